// The alerts of deploy/k8s/prometheusrule.yaml, evaluated by a real Prometheus that scrapes three
// real replicas (PostgreSQL, wasim, a paired account). Each alert's cause is made real the way it
// happens in production, never by writing metric values:
//   healthy run            nothing pending or firing
//   StreamReplaced         a restored copy of the database runs beside the cluster
//   Fenced + NoLeader      the leader's lock session is terminated while a foreign session queues
//                          for the account's lock and then holds it
//   LoggedOut              the phone removes the linked device (wasim admin logout)
// Then every expression of the Grafana dashboard is evaluated against the same Prometheus, and
// must return data.
// The rules are the manifest's, with every `for:` divided by 15 (production scrapes every 15 s,
// this Prometheus every second), made mechanically by tests/deploy/prometheus_inputs.mjs.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "cluster.h"
#include "prometheus.h"
#include "support.h"

namespace wa::obs {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
constexpr const char* kNamespace = "drill";

std::string source_dir() {
  if (const char* d = std::getenv("WACONN_SOURCE_DIR"); d != nullptr && *d != '\0') return d;
  return WACONN_DEFAULT_SOURCE_DIR;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

void run(const std::string& cmd) {
  INFO("command: " << cmd);
  REQUIRE(std::system(cmd.c_str()) == 0);
}

std::string describe(const std::vector<Alert>& list) {
  std::string out;
  for (const auto& a : list) {
    out += fmt::format("  {} {}", a.name, a.state);
    for (const auto& [k, v] : a.labels)
      if (k != "alertname") out += fmt::format(" {}={}", k, v);
    out += "\n";
  }
  return out.empty() ? "  (none)\n" : out;
}

// Waits until `name` fires with every label of `want`; on timeout, shows what was active.
bool wait_firing(Prometheus& p, const std::string& name, const std::map<std::string, std::string>& want,
                 std::chrono::milliseconds timeout, std::vector<Alert>* last = nullptr) {
  std::vector<Alert> now;
  const bool ok = hatest::wait_for(
      [&] {
        now = p.alerts();
        for (const auto& a : now) {
          if (a.name != name || a.state != "firing") continue;
          bool match = true;
          for (const auto& [k, v] : want) match = match && a.labels.count(k) && a.labels.at(k) == v;
          if (match) return true;
        }
        return false;
      },
      timeout);
  if (last) *last = now;
  return ok;
}

// Prometheus' clock, in Unix seconds.
double server_time(Prometheus& p) {
  const auto d = p.query("time()");
  const auto* r = d.find("result");
  REQUIRE(r != nullptr);
  REQUIRE(r->items.size() == 2);
  return std::stod(r->items[1].text);
}

// A database dropped at scope exit, also when a REQUIRE fails.
struct DatabaseGuard {
  std::string name;
  ~DatabaseGuard() {
    try {
      auto admin = pg::Connection::open(hatest::base_url(), "drop drill copy");
      admin.exec_simple("drop drill copy",
                        fmt::format("DROP DATABASE IF EXISTS {} WITH (FORCE)", name).c_str());
    } catch (const std::exception&) {
    }
  }
};

}  // namespace

TEST_CASE("A real Prometheus fires each alert when its cause is real and stays silent when healthy",
          "[pg][observability]") {
  const auto started = Clock::now();
  const std::string src = source_dir();
  const std::string tmp = fmt::format("/tmp/waconn-obs-{}", getpid());
  std::filesystem::create_directories(tmp);
  run(fmt::format("node {} drill-rules {} {} 15", shell_quote(src + "/tests/deploy/prometheus_inputs.mjs"),
                  shell_quote(src + "/deploy/k8s/prometheusrule.yaml"), shell_quote(tmp + "/rules.yml")));
  run(fmt::format("node {} dashboard-exprs {} {}", shell_quote(src + "/tests/deploy/prometheus_inputs.mjs"),
                  shell_quote(src + "/deploy/grafana/waconnector-dashboard.json"),
                  shell_quote(tmp + "/exprs.txt")));

  e2e::Cluster c;
  std::vector<Target> targets;
  for (auto& p : c.pods()) targets.push_back({p->http_port(), p->pod()});
  Prometheus prom(targets, kNamespace, tmp + "/rules.yml", 1);
  INFO("prometheus on 127.0.0.1:" << prom.port());
  // Every pod scraped and one of them leading. Before that, a freshly started Prometheus
  // legitimately sees "absent" and "no leader" for a moment (pending, never firing).
  double scraped_from = 0;
  REQUIRE(hatest::wait_for(
      [&] {
        return prom.series("up{job=\"waconnector\"} == 1") == 3 &&
               prom.series("waconnector_build_info") == 3 &&
               prom.series("waconnector_leader{business_id=\"acme\"}") == 3 &&
               prom.series("max(waconnector_leader{business_id=\"acme\"}) == 1") == 1;
      },
      30s));
  scraped_from = server_time(prom);

  {
    // --- Healthy: pairing, the 515 restart and login fire nothing (an unpaired leader is
    // LeaderNotLoggedIn *pending*: that is what its `for:` is for); once logged in, nothing is
    // even pending. ------------------------------------------------------------------------
    const std::string jid = c.pair("+15550012001");
    // The healthy run starts when the login is scraped and the rules were evaluated after that
    // (Prometheus scrapes itself for its last evaluation time).
    double healthy_from = 0;
    REQUIRE(hatest::wait_for(
        [&] {
          if (prom.series("max(waconnector_connected{business_id=\"acme\"}) == 1") != 1) return false;
          if (healthy_from == 0) healthy_from = server_time(prom);
          return prom.series(
                     fmt::format("min(prometheus_rule_group_last_evaluation_timestamp_seconds) > {:.3f}",
                                 healthy_from)) == 1;
        },
        30s));
    {
      std::vector<Alert> seen;
      const auto steady_until = Clock::now() + 8s;
      while (Clock::now() < steady_until) {
        for (auto& a : prom.alerts()) seen.push_back(a);
        std::this_thread::sleep_for(250ms);
      }
      INFO("alerts seen while healthy:\n"
           << describe(seen) << "leader series, last 40 s: " << prom.query_text("waconnector_leader[40s]"));
      CHECK(seen.empty());
      // Prometheus' own record (ALERTS): nothing pending since the login, nothing firing since
      // the pods were first scraped.
      const auto now = server_time(prom);
      const auto healthy_ms = static_cast<long>((now - healthy_from) * 1000) - 1000;
      const auto scraped_ms = static_cast<long>((now - scraped_from) * 1000) - 1000;
      REQUIRE(healthy_ms > 5000);
      const auto pending = fmt::format("count_over_time(ALERTS[{}ms])", healthy_ms);
      const auto fired = fmt::format("count_over_time(ALERTS{{alertstate=\"firing\"}}[{}ms])", scraped_ms);
      INFO("ALERTS since the login: " << prom.query_text(pending)
                                      << "\nfiring since the first scrape: " << prom.query_text(fired));
      CHECK(prom.series(pending) == 0);
      CHECK(prom.series(fired) == 0);
    }
    // Footprint of each replica after startup and pairing (for the manifests' resource requests).
    for (auto& p : c.pods()) {
      std::ifstream st(fmt::format("/proc/{}/status", p->pid()));
      std::string line, rss;
      while (std::getline(st, line))
        if (line.rfind("VmRSS:", 0) == 0) rss = line.substr(6);
      std::ifstream stat(fmt::format("/proc/{}/stat", p->pid()));
      std::string all((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
      std::istringstream fields(all.substr(all.rfind(')') + 2));
      std::vector<std::string> f;
      for (std::string x; fields >> x;) f.push_back(x);
      const double cpu_s =
          f.size() > 12 ? (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(sysconf(_SC_CLK_TCK))
                        : -1;
      WARN(fmt::format("footprint {}: VmRSS{}, CPU {:.2f} s since start", p->pod(), rss, cpu_s));
    }
    {
      auto conn = c.db().connect("drill footprint");
      auto r = conn.exec("sessions per kind",
                         "SELECT application_name, count(*) FROM pg_stat_activity"
                         " WHERE datname = current_database() AND application_name LIKE 'waconnector/%'"
                         " GROUP BY 1 ORDER BY 1");
      std::string sessions;
      for (int i = 0; i < r.rows(); ++i) sessions += fmt::format(" {}={}", r.text(i, 0), r.text(i, 1));
      WARN("PostgreSQL sessions of the pods (one account, logged in):" << sessions);
    }
    const auto healthy_done = Clock::now();
    WARN("healthy phase (pairing, then 8 s logged in): "
         << std::chrono::duration_cast<std::chrono::seconds>(healthy_done - started).count()
         << " s since start");

    // --- StreamReplaced: a restored copy of the store logs in with the same device. ----------
    int leader = c.wait_logged_in(30s);
    REQUIRE(leader >= 0);
    std::string leader_pod = c.pods()[static_cast<std::size_t>(leader)]->pod();
    {
      auto conn = c.db().connect("drill");
      const std::string db =
          std::string(conn.exec("current database", "SELECT current_database()").text(0, 0));
      DatabaseGuard copy{db + "_restored"};
      auto admin = pg::Connection::open(hatest::base_url(), "drill admin");
      admin.exec_simple("create restored copy", fmt::format("CREATE DATABASE {}", copy.name).c_str());
      const std::string copy_url = c.db().url() + " dbname=" + copy.name;
      run(fmt::format("pg_dump --no-owner -d {} | psql -q -X -v ON_ERROR_STOP=1 -d {} >/dev/null",
                      shell_quote(c.db().url()), shell_quote(copy_url)));
      hatest::Replica intruder(
          "restored-copy", {"--database-url", copy_url, "--business-id", e2e::Cluster::kAccount, "--wa-url",
                            c.wasim().ws_url(), "--wa-root-key", c.wasim().root_key_hex()});
      std::vector<Alert> last;
      const bool fired = wait_firing(prom, "WaconnectorStreamReplaced",
                                     {{"pod", leader_pod}, {"namespace", kNamespace}}, 30s, &last);
      INFO("active alerts:\n" << describe(last) << "intruder log:\n" << intruder.log());
      REQUIRE(fired);
      intruder.signal(SIGKILL);
      intruder.wait_exit(5s);
    }
    WARN("StreamReplaced fired; "
         << std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started).count()
         << " s since start");

    // --- Fenced + NoLeader: the leader's lock session dies; a foreign session takes the lock. -
    leader = c.wait_logged_in(60s);
    REQUIRE(leader >= 0);
    leader_pod = c.pods()[static_cast<std::size_t>(leader)]->pod();
    {
      auto outsider = c.db().connect("foreign lock holder");
      const auto key = outsider
                           .exec("lock key", "SELECT lock_key FROM wa_accounts WHERE business_id = $1",
                                 {std::string(e2e::Cluster::kAccount)})
                           .i64(0, 0);
      auto holder = outsider.exec("lock holder",
                                  "SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
                                  " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
                                  " AND d.datname = current_database()"
                                  " AND ((l.classid::bigint << 32) | l.objid::bigint) = $1::bigint",
                                  {key});
      REQUIRE(holder.rows() == 1);
      // One statement: the terminate signal, then this session queues for the lock. Queued
      // waiters are granted before any later try-lock, so no standby can win it.
      outsider.exec("terminate the leader's lock session and take the lock",
                    "SELECT pg_terminate_backend($1::int), pg_advisory_lock($2::bigint)",
                    {holder.i64(0, 0), key});
      std::vector<Alert> last;
      bool fenced = wait_firing(prom, "WaconnectorFenced", {{"pod", leader_pod}}, 30s, &last);
      INFO("active alerts:\n" << describe(last));
      CHECK(fenced);
      bool no_leader =
          wait_firing(prom, "WaconnectorNoLeader",
                      {{"business_id", e2e::Cluster::kAccount}, {"namespace", kNamespace}}, 30s, &last);
      INFO("active alerts:\n" << describe(last));
      REQUIRE(no_leader);
      CHECK(c.leading_pod() == -1);
      outsider.exec("release", "SELECT pg_advisory_unlock($1::bigint)", {key});
    }
    WARN("Fenced and NoLeader fired; "
         << std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started).count()
         << " s since start");
    leader = c.wait_logged_in(60s);
    REQUIRE(leader >= 0);
    // Once a pod leads again, NoLeader resolves.
    CHECK(hatest::wait_for(
        [&] {
          for (const auto& a : prom.alerts())
            if (a.name == "WaconnectorNoLeader") return false;
          return true;
        },
        20s));

    // --- LoggedOut: the phone removes the linked device. -------------------------------------
    leader_pod = c.pods()[static_cast<std::size_t>(leader)]->pod();
    std::string reply;
    const int status = c.admin_post("/admin/devices/" + jid + "/logout", "{}", &reply);
    INFO("logout -> " << status << " " << reply);
    REQUIRE(status == 200);
    std::vector<Alert> last;
    const bool logged_out = wait_firing(prom, "WaconnectorLoggedOut", {{"pod", leader_pod}}, 30s, &last);
    INFO("active alerts:\n" << describe(last));
    REQUIRE(logged_out);
    WARN("LoggedOut fired; "
         << std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started).count()
         << " s since start");

    // --- The dashboard: every expression evaluates; those on exported metrics return data. --
    std::ifstream f(tmp + "/exprs.txt");
    std::string expr;
    int evaluated = 0;
    while (std::getline(f, expr)) {
      if (expr.empty()) continue;
      INFO("dashboard expression: " << expr);
      // Every metric the dashboard reads exists from a pod's first scrape (zeros, not gaps), so
      // every panel has data, messaging ones included.
      std::size_t n = 0;
      REQUIRE_NOTHROW(n = prom.series(expr));
      CHECK(n > 0);
      ++evaluated;
    }
    CHECK(evaluated >= 22);
  }
  std::error_code ec;
  std::filesystem::remove_all(tmp, ec);
  WARN("observability drill: "
       << std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started).count() << " s");
}

}  // namespace wa::obs
