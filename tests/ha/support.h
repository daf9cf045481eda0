// Test support for the HA tests: a private database per test, the waconnector binary as a child
// process, a minimal HTTP GET, and waiting for conditions (never sleeping as synchronisation).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "store/ha_events.h"
#include "store/pg.h"

namespace wa::hatest {

// WACONN_TEST_DATABASE_URL; FAILS the test when it is missing.
std::string base_url();

// A freshly created, migrated database, dropped on destruction.
class TestDb {
 public:
  TestDb();
  ~TestDb();
  TestDb(const TestDb&) = delete;
  TestDb& operator=(const TestDb&) = delete;
  const std::string& url() const { return url_; }  // key=value conninfo
  pg::Connection connect(std::string_view purpose = "test") const;
  void add_account(const std::string& business_id) const;

 private:
  std::string name_;
  std::string url_;
};

// Polls `cond` every few ms until it is true or `timeout` passes; returns whether it became true.
bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds timeout);

std::string bin_dir();

// `waconnector run ...` as a child process with stderr (JSON logs) captured to a file.
class Replica {
 public:
  Replica(const std::string& pod, const std::vector<std::string>& args);
  ~Replica();  // SIGKILLs if still running
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  const std::string& pod() const { return pod_; }
  pid_t pid() const { return pid_; }
  void signal(int sig);
  // Waits for exit; returns the exit code (128+signal when killed), nullopt on timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  bool running();
  std::string log() const;
  // The HTTP port from the "http_listening" log line (waits for it).
  int http_port(std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  std::string pod_;
  std::string log_path_;
  pid_t pid_ = -1;
  std::optional<int> exit_;
};

struct HttpReply {
  int status = 0;
  std::string body;
};
// GET http://127.0.0.1:port/path; status 0 when it could not connect.
HttpReply http_get(int port, const std::string& path);

std::vector<store::HaEvent> events(const TestDb& db, const std::string& business_id);
std::optional<store::HaEvent> last_gain(const std::vector<store::HaEvent>& ev);  // acquired|takeover

}  // namespace wa::hatest
