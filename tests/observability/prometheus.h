// A real Prometheus server as a child process for the observability drill: its own config and
// TSDB in a temporary directory, the HTTP API on a free port of 127.0.0.1, log in a file.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "core/binary/json.h"

namespace wa::obs {

struct Alert {
  std::string name;
  std::string state;  // pending | firing
  std::map<std::string, std::string> labels;
};

struct Target {
  int port = 0;
  std::string pod;
};

class Prometheus {
 public:
  // Scrapes `targets` (job waconnector, labels namespace=`ns` and pod) every `interval_s` and
  // evaluates `rules_file` as often. Waits until the API is ready.
  Prometheus(const std::vector<Target>& targets, const std::string& ns, const std::string& rules_file,
             int interval_s);
  ~Prometheus();
  Prometheus(const Prometheus&) = delete;
  Prometheus& operator=(const Prometheus&) = delete;

  int port() const { return port_; }
  std::string log() const;
  // GET /api/v1/alerts: every pending or firing alert.
  std::vector<Alert> alerts();
  // POST /api/v1/query: the "data" object of a successful instant query; throws with
  // Prometheus' error text otherwise.
  binary::Json query(const std::string& promql);
  // The raw JSON answer of an instant query (for failure messages).
  std::string query_text(const std::string& promql);
  // Number of series an instant query returns (vector result).
  std::size_t series(const std::string& promql);

 private:
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// A TCP port of 127.0.0.1 that was free a moment ago.
int free_port();

}  // namespace wa::obs
