// The e2e fixture: a private database with one account, wasim (the WhatsApp server) and three
// `waconnector run` replicas pointed at it, plus the observations the tests make: who leads,
// the connection state each pod reports, the account row, and wasim's per-device connection list.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "byte_proxy.h"
#include "support.h"

namespace wa::e2e {

using namespace std::chrono_literals;

// wasim as a child process, its JSON log in a file (never a pipe that could fill up).
class Wasim {
 public:
  Wasim();
  ~Wasim();
  Wasim(const Wasim&) = delete;
  Wasim& operator=(const Wasim&) = delete;
  int ws_port() const { return ws_port_; }
  int admin_port() const { return admin_port_; }
  const std::string& root_key_hex() const { return root_hex_; }
  std::string ws_url() const;
  std::string log() const;

 private:
  std::string dir_;
  std::string log_path_;
  pid_t pid_ = -1;
  int ws_port_ = 0;
  int admin_port_ = 0;
  std::string root_hex_;
};

struct WasimConnection {
  std::int64_t opened_ms = 0;
  std::optional<std::int64_t> logged_in_ms;
  std::optional<std::int64_t> closed_ms;
  std::string close_reason;
};

struct AccountRow {
  std::string status;
  std::optional<std::string> jid;
  std::optional<std::string> qr_code;
  std::optional<std::string> assigned_pod;
  std::optional<std::string> disconnect_reason;
  std::int64_t failover_count = 0;
  std::int64_t session_restore_count = 0;
  std::int64_t lease_epoch = 0;
  std::optional<std::int64_t> last_connected_at_ms;
};

class Cluster {
 public:
  static constexpr const char* kAccount = "acme";
  // Starts wasim, registers the account and starts `replicas` pods with `extra` run flags. With
  // `through_proxy` the pods reach wasim through a ByteProxy that timestamps what they send.
  explicit Cluster(std::vector<std::string> extra = {}, int replicas = 3, bool through_proxy = false);
  ByteProxy* proxy() { return proxy_.get(); }

  hatest::TestDb& db() { return db_; }
  Wasim& wasim() { return wasim_; }
  std::vector<std::unique_ptr<hatest::Replica>>& pods() { return pods_; }
  // Starts another replica (same flags) named pod-N.
  hatest::Replica& add_pod();
  // The pods' run flags (database, account, wasim), for a test that starts a pod of its own.
  const std::vector<std::string>& args() const { return args_; }

  AccountRow account();
  // Index of the running pod whose /status says it leads the account with a logged-in
  // connection, or -1.
  int logged_in_pod();
  // Index of a running pod that leads (leader|active), or -1.
  int leading_pod();
  std::string status_of(int i);

  // wasim admin API.
  int admin_post(const std::string& path, const std::string& json_body, std::string* reply = nullptr);
  std::vector<WasimConnection> connections(const std::string& jid);

  // Pairs the account: a virtual phone scans the QR served by a STANDBY pod; waits until the
  // leader logged in. Returns the device jid.
  std::string pair(const std::string& phone);
  // Waits until some pod reports logged_in; returns its index (-1 on timeout).
  int wait_logged_in(std::chrono::milliseconds timeout, int not_pod = -1);

 private:
  std::vector<std::string> args_;
  hatest::TestDb db_;
  Wasim wasim_;
  std::unique_ptr<ByteProxy> proxy_;
  std::vector<std::unique_ptr<hatest::Replica>> pods_;
};

// Total time (ms) two logged-in connections of the list overlap (must be 0).
std::int64_t overlap_ms(const std::vector<WasimConnection>& list);

}  // namespace wa::e2e
