// A real /metrics output must pass promtool's linter and our own checks (duplicate series,
// complete histograms), which promtool does not make.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "app/http_server.h"
#include "common/metrics.h"
#include "http_client.h"
#include "prom_text_check.h"

namespace {

std::string promtool() {
  if (const char* p = std::getenv("PROMTOOL"); p != nullptr && *p != '\0') return p;
  return "/usr/bin/promtool";
}

struct TempFile {
  std::string path;
  explicit TempFile(const std::string& content) {
    char tmpl[] = "/tmp/waconn-metrics-XXXXXX";
    const int fd = ::mkstemp(tmpl);
    if (fd < 0) throw std::runtime_error("mkstemp failed");
    ::close(fd);
    path = tmpl;
    std::ofstream(path) << content;
  }
  ~TempFile() { std::remove(path.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
};

// Runs `promtool check metrics < file`; returns {exit code, output}.
std::pair<int, std::string> promtool_check(const std::string& text) {
  REQUIRE(::access(promtool().c_str(), X_OK) == 0);  // missing promtool fails, never skips
  TempFile f(text);
  const std::string cmd = promtool() + " check metrics < " + f.path + " 2>&1";
  std::FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int st = ::pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

void fill(wa::Metrics& m) {
  m.leader("1001").Set(1);
  m.leader("1002").Set(0);
  m.leader_transitions.Increment(3);
  m.lock_attempt("acquired").Increment();
  m.lock_attempt("busy").Increment(10);
  m.lock_heartbeat_seconds.Observe(0.0004);
  m.lock_heartbeat_seconds.Observe(0.02);
  m.fenced.Increment();
  m.store_writes_refused.Increment(2);
  m.lock_lost.Increment();
  m.connected("1001").Set(1);
  m.disconnect("replaced").Increment();
  m.stream_replaced.Increment();
  m.failover_seconds.Observe(0.7);
  m.decode_error("frame").Increment();
}

}  // namespace

TEST_CASE("live /metrics passes promtool check metrics and our own checks", "[metrics][promtool]") {
  wa::Metrics m;
  fill(m);
  wa::app::HttpHandlers h;
  h.metrics = &m;
  wa::app::HttpServer s("127.0.0.1", 0, h);
  const auto r = wa::test::http_request(s.port(), "GET", "/metrics");
  REQUIRE(r.status == 200);

  const auto [rc, out] = promtool_check(r.body);
  INFO(out);
  CHECK(rc == 0);
  const auto problems = wa::test::check_exposition(r.body);
  for (const auto& p : problems) UNSCOPED_INFO(p);
  CHECK(problems.empty());

  // The series the alerts and dashboards rely on are present.
  for (const char* series :
       {"waconnector_leader{business_id=\"1001\"} 1", "waconnector_leader_transitions_total 3",
        "waconnector_lock_attempts_total{result=\"error\"} 0", "waconnector_lock_heartbeat_seconds_count 2",
        "waconnector_fenced_total 1", "waconnector_store_writes_refused_total 2",
        "waconnector_stream_replaced_total 1", "waconnector_build_info{version="})
    CHECK(r.body.find(series) != std::string::npos);
}

TEST_CASE("promtool is really consulted: it rejects a counter without _total", "[metrics][promtool]") {
  const auto [rc, out] = promtool_check("# HELP x_events Events.\n# TYPE x_events counter\nx_events 1\n");
  CHECK(rc != 0);
  CHECK(out.find("_total") != std::string::npos);
}

TEST_CASE("exposition check catches what promtool misses", "[metrics]") {
  const std::string good =
      "# HELP h_seconds H.\n# TYPE h_seconds histogram\n"
      "h_seconds_bucket{le=\"0.1\"} 1\nh_seconds_bucket{le=\"+Inf\"} 2\nh_seconds_sum 0.3\nh_seconds_count 2\n"
      "# HELP c_total C.\n# TYPE c_total counter\nc_total{a=\"1\",b=\"2\"} 1\n";
  CHECK(wa::test::check_exposition(good).empty());

  auto dup = good + "c_total{b=\"2\",a=\"1\"} 5\n";
  auto p = wa::test::check_exposition(dup);
  REQUIRE(p.size() == 1);
  CHECK(p[0].find("duplicate series") != std::string::npos);

  const std::string no_inf =
      "# TYPE h_seconds histogram\nh_seconds_bucket{le=\"0.1\"} 1\nh_seconds_sum 0.3\nh_seconds_count 2\n";
  p = wa::test::check_exposition(no_inf);
  REQUIRE(p.size() == 1);
  CHECK(p[0].find("+Inf") != std::string::npos);

  const std::string no_sum_count = "# TYPE h_seconds histogram\nh_seconds_bucket{le=\"+Inf\"} 2\n";
  p = wa::test::check_exposition(no_sum_count);
  CHECK(p.size() == 2);

  const std::string not_cumulative =
      "# TYPE h_seconds histogram\nh_seconds_bucket{le=\"0.1\"} 3\nh_seconds_bucket{le=\"+Inf\"} 2\n"
      "h_seconds_sum 1\nh_seconds_count 3\n";
  p = wa::test::check_exposition(not_cumulative);
  CHECK(p.size() == 2);  // not cumulative, and +Inf != count

  CHECK(wa::test::check_exposition("untyped_thing 1\n").size() == 1);
  CHECK(wa::test::check_exposition("# TYPE g gauge\ng{a=\"x} 1\n").size() == 1);  // unterminated label
}

TEST_CASE("metrics: database_up starts at 0, message series exist at 0, a forgotten account leaves no series",
          "[metrics]") {
  wa::Metrics m;
  auto text = m.serialize();
  CHECK(text.find("\nwaconnector_database_up 0\n") != std::string::npos);
  for (const char* s : {"waconnector_messages_received_total{kind=\"text\"} 0",
                        "waconnector_messages_sent_total{kind=\"media\"} 0",
                        "waconnector_decrypt_failures_total{reason=\"bad_mac\"} 0",
                        "waconnector_outbox_pending 0", "waconnector_webhook_pending 0",
                        "waconnector_webhook_dead_letters_total 0",
                        "waconnector_message_receive_latency_seconds_count 0",
                        "waconnector_message_send_latency_seconds_count 0"})
    CHECK(text.find(s) != std::string::npos);
  m.leader("acme").Set(1);
  m.connected("acme").Set(1);
  m.leader("beta").Set(0);
  m.forget_account("acme");
  m.forget_account("never-seen");  // harmless
  text = m.serialize();
  CHECK(text.find("business_id=\"acme\"") == std::string::npos);
  CHECK(text.find("waconnector_leader{business_id=\"beta\"} 0") != std::string::npos);
  m.leader("acme").Set(0);  // re-registered: a new series
  CHECK(m.serialize().find("waconnector_leader{business_id=\"acme\"} 0") != std::string::npos);
}
