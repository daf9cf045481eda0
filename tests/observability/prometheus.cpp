#include "prometheus.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "../app/http_client.h"
#include "support.h"

namespace wa::obs {
namespace {

using namespace std::chrono_literals;

std::string form_encode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
      out += static_cast<char>(c);
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}

std::string str(const binary::Json* j) {
  return j != nullptr && j->type == binary::Json::Type::string ? j->text : "";
}

}  // namespace

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  close(fd);
  return ntohs(a.sin_port);
}

Prometheus::Prometheus(const std::vector<Target>& targets, const std::string& ns,
                       const std::string& rules_file, int interval_s) {
  const std::string bin = "/usr/bin/prometheus";
  if (!std::filesystem::exists(bin))
    FAIL(bin << " missing: install Debian's 'prometheus' (scripts/install-deps.sh)");
  dir_ = fmt::format("/tmp/waconn-obs-prometheus-{}", getpid());
  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_ + "/data");
  std::filesystem::copy_file(rules_file, dir_ + "/rules.yml");
  port_ = free_port();
  {
    std::ofstream cfg(dir_ + "/prometheus.yml");
    cfg << fmt::format(
        "global:\n  scrape_interval: {0}s\n  scrape_timeout: {0}s\n  evaluation_interval: {0}s\n"
        "rule_files:\n  - rules.yml\nscrape_configs:\n  - job_name: waconnector\n    static_configs:\n",
        interval_s);
    // namespace and pod as the PodMonitor's relabelling would set them in a cluster.
    for (const auto& t : targets)
      cfg << fmt::format(
          "      - targets: ['127.0.0.1:{}']\n        labels: {{namespace: '{}', pod: '{}'}}\n", t.port, ns,
          t.pod);
    // Itself, for prometheus_rule_group_last_evaluation_timestamp_seconds.
    cfg << fmt::format("  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
                       port_);
  }
  const std::string log_path = dir_ + "/prometheus.log";
  std::vector<std::string> args{bin, "--config.file=" + dir_ + "/prometheus.yml",
                                "--storage.tsdb.path=" + dir_ + "/data",
                                fmt::format("--web.listen-address=127.0.0.1:{}", port_), "--log.level=warn"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_ = fork();
  if (pid_ == 0) {
    const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    chdir(dir_.c_str());
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  REQUIRE(pid_ > 0);
  const bool ready = hatest::wait_for(
      [&] {
        try {
          return test::http_request(port_, "GET", "/-/ready").status == 200;
        } catch (const std::exception&) {
          return false;
        }
      },
      30s);
  INFO("prometheus log:\n" << log());
  REQUIRE(ready);
}

Prometheus::~Prometheus() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string Prometheus::log() const {
  std::ifstream f(dir_ + "/prometheus.log");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<Alert> Prometheus::alerts() {
  auto r = test::http_request(port_, "GET", "/api/v1/alerts");
  if (r.status != 200) throw std::runtime_error(fmt::format("GET /api/v1/alerts: {} {}", r.status, r.body));
  auto j = binary::parse_json(r.body);
  const auto* data = j.find("data");
  const auto* list = data ? data->find("alerts") : nullptr;
  if (list == nullptr || list->type != binary::Json::Type::array)
    throw std::runtime_error("alerts: no data.alerts in " + r.body);
  std::vector<Alert> out;
  for (const auto& a : list->items) {
    Alert x;
    x.state = str(a.find("state"));
    if (const auto* l = a.find("labels"))
      for (const auto& m : l->members) x.labels[m.key] = m.value.text;
    x.name = x.labels["alertname"];
    out.push_back(std::move(x));
  }
  return out;
}

binary::Json Prometheus::query(const std::string& promql) {
  auto r = test::http_request(port_, "POST", "/api/v1/query", "query=" + form_encode(promql),
                              "Content-Type: application/x-www-form-urlencoded\r\n");
  auto j = binary::parse_json(r.body);
  if (r.status != 200 || str(j.find("status")) != "success")
    throw std::runtime_error(fmt::format("query {}: {} {}", promql, r.status, r.body));
  const auto* data = j.find("data");
  if (data == nullptr) throw std::runtime_error("query " + promql + ": no data");
  return *data;
}

std::string Prometheus::query_text(const std::string& promql) {
  return test::http_request(port_, "POST", "/api/v1/query", "query=" + form_encode(promql),
                            "Content-Type: application/x-www-form-urlencoded\r\n")
      .body;
}

std::size_t Prometheus::series(const std::string& promql) {
  auto d = query(promql);
  const auto* result = d.find("result");
  if (result == nullptr || result->type != binary::Json::Type::array) return 0;
  return result->items.size();
}

}  // namespace wa::obs
