// WaconnectorDatabaseDown, made real: PostgreSQL (a cluster of this test's own, so no other test
// loses its database) is stopped under two replicas that a real Prometheus scrapes, and a third
// replica starts while it is down. The alert must fire for all three - the third exports
// waconnector_database_up 0 from its first scrape - and NoLeader must not fire: while every pod
// of the namespace has no database, the per-account alerts are silenced (the outage is the cause).
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "prometheus.h"
#include "support.h"

namespace wa::obs {
namespace {

using namespace std::chrono_literals;

std::string source_dir() {
  if (const char* d = std::getenv("WACONN_SOURCE_DIR"); d != nullptr && *d != '\0') return d;
  return WACONN_DEFAULT_SOURCE_DIR;
}

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs a command; returns its stdout's last line (exit status checked).
std::string run_out(const std::string& cmd) {
  INFO("command: " << cmd);
  FILE* f = popen(cmd.c_str(), "r");
  REQUIRE(f != nullptr);
  std::string out, line;
  char buf[512];
  while (fgets(buf, sizeof buf, f) != nullptr) out += buf;
  REQUIRE(pclose(f) == 0);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  const auto nl = out.rfind('\n');
  return nl == std::string::npos ? out : out.substr(nl + 1);
}

struct OwnCluster {
  std::string dir;
  std::string url;
  explicit OwnCluster(std::string d) : dir(std::move(d)) {
    url = run_out(fmt::format("bash {} start {}", quote(source_dir() + "/scripts/pg-cluster.sh"), quote(dir)));
  }
  void stop() const {
    (void)std::system(
        fmt::format("bash {} stop {}", quote(source_dir() + "/scripts/pg-cluster.sh"), quote(dir)).c_str());
  }
  ~OwnCluster() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

bool firing(Prometheus& p, const std::string& name, const std::string& pod) {
  for (const auto& a : p.alerts())
    if (a.name == name && a.state == "firing" && (pod.empty() || (a.labels.count("pod") && a.labels.at("pod") == pod)))
      return true;
  return false;
}

}  // namespace

TEST_CASE("DatabaseDown fires when PostgreSQL stops, also for a pod started during the outage - NoLeader stays "
          "silent",
          "[pg][observability]") {
  const std::string src = source_dir();
  const std::string tmp = fmt::format("/tmp/waconn-obs-db-{}", getpid());
  std::filesystem::create_directories(tmp);
  run_out(fmt::format("node {} drill-rules {} {} 15", quote(src + "/tests/deploy/prometheus_inputs.mjs"),
                      quote(src + "/deploy/k8s/prometheusrule.yaml"), quote(tmp + "/rules.yml")));
  OwnCluster pg(tmp + "/pg");
  const std::string bin = hatest::bin_dir() + "/waconnector";
  run_out(fmt::format("{} migrate --database-url {}", quote(bin), quote(pg.url)));
  run_out(fmt::format("{} accounts add --database-url {} --business-id acme", quote(bin), quote(pg.url)));

  const std::vector<std::string> args{"--database-url", pg.url, "--business-id", "acme"};
  std::vector<std::unique_ptr<hatest::Replica>> pods;
  for (int i = 0; i < 2; ++i) pods.push_back(std::make_unique<hatest::Replica>(fmt::format("pod-{}", i), args));
  // The late pod's port is fixed now, so Prometheus scrapes it from the moment it exists.
  const int late_port = free_port();
  std::vector<Target> targets;
  for (auto& p : pods) targets.push_back({p->http_port(), p->pod()});
  targets.push_back({late_port, "pod-late"});
  Prometheus prom(targets, "dbdrill", tmp + "/rules.yml", 1);
  INFO("prometheus on 127.0.0.1:" << prom.port());
  REQUIRE(hatest::wait_for(
      [&] {
        return prom.series("waconnector_database_up == 1") == 2 &&
               prom.series("max(waconnector_leader{business_id=\"acme\"}) == 1") == 1;
      },
      30s));
  CHECK(prom.series("ALERTS{alertname=\"WaconnectorDatabaseDown\"}") == 0);

  pg.stop();
  const auto stopped = std::chrono::steady_clock::now();
  REQUIRE(hatest::wait_for([&] { return firing(prom, "WaconnectorDatabaseDown", "pod-0") &&
                                        firing(prom, "WaconnectorDatabaseDown", "pod-1"); },
                           30s));
  WARN("DatabaseDown fired for both running pods "
       << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - stopped).count()
       << " ms after PostgreSQL stopped (rules' for: divided by 15)");
  // Fenced: nobody leads. The alert's for: (2 s here) can elapse before the leader's fence deadline
  // (--fence-after, 3 s after its last renewal), so wait for the fence rather than sample once.
  CHECK(hatest::wait_for([&] { return prom.series("waconnector_leader{business_id=\"acme\"} == 1") == 0; }, 15s));

  hatest::Replica late("pod-late", {"--database-url", pg.url, "--business-id", "acme", "--http",
                                    fmt::format("127.0.0.1:{}", late_port)});
  REQUIRE(hatest::wait_for([&] { return firing(prom, "WaconnectorDatabaseDown", "pod-late"); }, 30s));
  // A pod that never reached the database has no leader series; database_up is its only signal.
  CHECK(prom.series("waconnector_database_up{pod=\"pod-late\"} == 0") == 1);
  CHECK(prom.series("waconnector_leader{pod=\"pod-late\"}") == 0);
  // Not ready (the database is this pod's own business), alive (restarting would not help).
  CHECK(hatest::http_get(late_port, "/ready").status == 503);
  CHECK(hatest::http_get(late_port, "/health").status == 200);

  // NoLeader never fired during the outage, although nobody led the account.
  const auto window = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - stopped);
  const auto q = fmt::format("count_over_time(ALERTS{{alertname=\"WaconnectorNoLeader\",alertstate=\"firing\"}}[{}ms])",
                             window.count());
  INFO(prom.query_text(q));
  CHECK(prom.series(q) == 0);
}

}  // namespace wa::obs

namespace wa::obs {

TEST_CASE("a read-only database counts as down: database_up 0 and NotReady (read-only) until it is writable again",
          "[pg][observability]") {
  hatest::TestDb db;
  db.add_account("acme");
  hatest::Replica pod("ro-0", {"--database-url", db.url(), "--business-id", "acme"});
  const int port = pod.http_port();
  auto metric_is = [&](const char* v) {
    return hatest::http_get(port, "/metrics").body.find(std::string("\nwaconnector_database_up ") + v + "\n") !=
           std::string::npos;
  };
  REQUIRE(hatest::wait_for([&] { return metric_is("1"); }, 20s));
  auto admin = db.connect("make it read-only");
  const std::string name(admin.exec("db", "SELECT current_database()").text(0, 0));
  admin.exec_simple("read-only default",
                    fmt::format("ALTER DATABASE {} SET default_transaction_read_only = on", name).c_str());
  // Its sessions reconnect (as after a failover that left the address on a standby).
  admin.exec("cut the pod's sessions",
             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'waconnector/ro-0/%'");
  // (Right after the cut the pod is briefly "unreachable"; then it finds its writes refused.)
  std::string body;
  CHECK(hatest::wait_for(
      [&] {
        const auto r = hatest::http_get(port, "/ready");
        body = r.body;
        return r.status == 503 && r.body.find("read-only") != std::string::npos;
      },
      30s));
  INFO("/ready: " << body);
  CHECK(metric_is("0"));
  admin.exec_simple("writable again",
                    fmt::format("ALTER DATABASE {} SET default_transaction_read_only = off", name).c_str());
  CHECK(hatest::wait_for([&] { return metric_is("1"); }, 40s));
  CHECK(hatest::http_get(port, "/ready").status == 200);
}

}  // namespace wa::obs
