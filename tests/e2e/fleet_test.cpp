// The fleet: 60 paired accounts over 3 pods on wasim. Balanced leadership (ha/balance.h) gives
// each pod 20 +- 3; a SIGKILLed pod's accounts spread over both survivors (peer waiters notice the
// death at once) and log in again; the restarted pod gets its share back through graceful
// handovers; wasim never has two live logins of one device. PostgreSQL sessions (by
// application_name) and threads per pod are printed and asserted in every phase (<= 10 sessions,
// <= 24 threads; the io pool is pinned to 2 threads, its default is one per core).
#include <signal.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "../app/http_client.h"
#include "cluster.h"
#include "core/binary/json.h"
#include "store/accounts.h"

namespace wa::e2e {
namespace {

constexpr int kAccounts = 60;
constexpr int kPods = 3;

std::string biz(int i) {
  return fmt::format("fleet-{:02}", i);
}

struct PodView {
  std::set<std::string> led;        // leader|active
  std::set<std::string> logged_in;  // led with a logged-in connection
};

PodView view_of(hatest::Replica& r) {
  PodView v;
  if (!r.running()) return v;
  const int port = r.http_port(std::chrono::seconds(2));
  if (port <= 0) return v;
  const auto body = hatest::http_get(port, "/status").body;
  if (body.empty()) return v;
  binary::Json j;
  try {
    j = binary::parse_json(body);
  } catch (const std::exception&) {
    return v;
  }
  const auto* accounts = j.find("accounts");
  if (accounts == nullptr) return v;
  for (const auto& a : accounts->items) {
    const auto* id = a.find("business_id");
    const auto* role = a.find("role");
    const auto* conn = a.find("connection");
    if (id == nullptr || role == nullptr) continue;
    if (role->text != "leader" && role->text != "active") continue;
    v.led.insert(id->text);
    if (conn != nullptr && conn->type == binary::Json::Type::string && conn->text == "logged_in")
      v.logged_in.insert(id->text);
  }
  return v;
}

int threads_of(pid_t pid) {
  std::ifstream f(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("Threads:", 0) == 0) return std::atoi(line.c_str() + 8);
  return -1;
}

class Fleet {
 public:
  Fleet() {
    auto c = db_.connect("register accounts");
    for (int i = 0; i < kAccounts; ++i) store::add_account(c, biz(i), std::nullopt);
    args_ = {"--database-url",      db_.url(),      "--wa-url", wasim_.ws_url(), "--wa-root-key",
             wasim_.root_key_hex(), "--io-threads", "2"};
    for (int i = 0; i < kPods; ++i) start(i);
  }

  void start(int i) {
    if (pods_.size() <= static_cast<std::size_t>(i)) pods_.resize(static_cast<std::size_t>(i) + 1);
    pods_[static_cast<std::size_t>(i)] = std::make_unique<hatest::Replica>(fmt::format("pod-{}", i), args_);
  }
  hatest::Replica& pod(int i) { return *pods_[static_cast<std::size_t>(i)]; }
  hatest::TestDb& db() { return db_; }

  std::vector<PodView> views() {
    std::vector<PodView> out;
    for (auto& p : pods_) out.push_back(view_of(*p));
    return out;
  }

  // Scans every published QR with a virtual phone of its own, all at once, until every account
  // is paired and connected.
  void pair_all() {
    auto c = db_.connect("pairing");
    std::set<std::string> phones;
    // The QR each account was scanned from: a QR that rotated (or a new leader's) before the scan
    // completed is scanned again.
    std::map<std::string, std::string> linked;
    const auto t0 = std::chrono::steady_clock::now();
    const bool paired = hatest::wait_for(
        [&] {
          auto r = c.exec(
              "QRs",
              "SELECT business_id, qr_code FROM wa_accounts WHERE jid IS NULL AND qr_code IS NOT NULL");
          for (int i = 0; i < r.rows(); ++i) {
            const std::string id(r.text(i, 0));
            const std::string qr(r.text(i, 1));
            if (linked[id] == qr) continue;
            const auto phone = fmt::format("+1555001{:04}", std::stoi(id.substr(6)));
            if (!phones.count(phone)) {
              auto p = test::http_request(wasim_.admin_port(), "POST", "/admin/phones",
                                          fmt::format("{{\"phone\":\"{}\"}}", phone),
                                          "Content-Type: application/json\r\n");
              INFO("POST /admin/phones " << p.status << " " << p.body);
              REQUIRE((p.status >= 200 && p.status < 300));
              phones.insert(phone);
            }
            std::string body = "{\"qr\":";
            binary::append_json_string(body, qr);
            body += "}";
            auto l = test::http_request(wasim_.admin_port(), "POST", "/admin/phones/" + phone + "/link", body,
                                        "Content-Type: application/json\r\n");
            // A QR that expired meanwhile is answered 4xx: the next round reads the new one.
            if (l.status >= 200 && l.status < 300) linked[id] = qr;
          }
          auto done = c.exec(
              "paired", "SELECT count(*) FROM wa_accounts WHERE jid IS NOT NULL AND status = 'connected'");
          return done.i64(0, 0) == kAccounts;
        },
        120s);
    if (!paired) {
      auto st = c.exec("states", "SELECT status, jid IS NOT NULL, count(*) FROM wa_accounts GROUP BY 1, 2");
      for (int i = 0; i < st.rows(); ++i)
        std::cout << fmt::format("fleet: not paired in time: status {} paired {} count {}\n", st.text(i, 0),
                                 st.text(i, 1), st.text(i, 2));
      keep_logs("pairing");
    }
    REQUIRE(paired);
    std::cout << fmt::format(
        "fleet: {} accounts paired and connected in {} ms\n", kAccounts,
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count());
    auto r = c.exec("jids", "SELECT business_id, jid FROM wa_accounts ORDER BY business_id");
    for (int i = 0; i < r.rows(); ++i) jids_[std::string(r.text(i, 0))] = std::string(r.text(i, 1));
  }

  // Every pod that runs leads 20 +- 3 (of the accounts over the running pods) and all 60 are
  // logged in exactly once.
  bool balanced(int running, int tolerance = 3) {
    const auto v = views();
    std::set<std::string> all;
    std::size_t sum = 0;
    const int fair = kAccounts / running;
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (!pods_[i]->running()) continue;
      if (std::abs(static_cast<int>(v[i].led.size()) - fair) > tolerance) return false;
      sum += v[i].logged_in.size();
      all.insert(v[i].logged_in.begin(), v[i].logged_in.end());
    }
    return all.size() == kAccounts && sum == kAccounts;
  }

  void report(const std::string& phase) {
    auto c = db_.connect("sessions");
    auto r =
        c.exec("sessions per pod",
               "SELECT application_name, count(*) FROM pg_stat_activity WHERE datname = current_database()"
               " AND application_name LIKE 'waconnector/%' GROUP BY 1 ORDER BY 1");
    std::map<std::string, int> per_pod;
    std::map<std::string, std::map<std::string, int>> purposes;
    int unattributed = 0;
    for (int i = 0; i < r.rows(); ++i) {
      const std::string name(r.text(i, 0));
      const int n = static_cast<int>(r.i64(i, 1));
      const auto a = name.find('/');
      const auto b = name.find('/', a + 1);
      if (b == std::string::npos) {
        unattributed += n;  // "waconnector/<purpose>": no pod in the name
        continue;
      }
      const auto pod = name.substr(a + 1, b - a - 1);
      per_pod[pod] += n;
      purposes[pod][name.substr(b + 1)] += n;
    }
    const auto v = views();
    for (std::size_t i = 0; i < pods_.size(); ++i) {
      auto& p = *pods_[i];
      if (!p.running()) continue;
      std::string detail;
      for (auto& [what, n] : purposes[p.pod()]) detail += fmt::format(" {}={}", what, n);
      const int threads = threads_of(p.pid());
      std::cout << fmt::format("fleet [{}] {}: leads {}, logged in {}, sessions {} ({} ), threads {}\n",
                               phase, p.pod(), v[i].led.size(), v[i].logged_in.size(), per_pod[p.pod()],
                               detail, threads);
      CHECK(per_pod[p.pod()] <= 10);
      CHECK(threads <= 24);
    }
    std::cout << fmt::format("fleet [{}] sessions without a pod in application_name: {}\n", phase,
                             unattributed);
    CHECK(unattributed == 0);
  }

  // WACONN_FLEET_KEEP=DIR keeps every pod's log there (the replicas delete theirs).
  void keep_logs(const std::string& tag) {
    const char* dir = std::getenv("WACONN_FLEET_KEEP");
    if (dir == nullptr) return;
    for (auto& p : pods_)
      if (p) std::ofstream(fmt::format("{}/{}-{}.log", dir, p->pod(), tag)) << p->log();
  }

  // No device had two logins open at once, over the whole run.
  void check_no_overlap() {
    std::int64_t total = 0, logins = 0;
    for (auto& [id, jid] : jids_) {
      auto r = test::http_request(wasim_.admin_port(), "GET", "/admin/devices/" + jid + "/connections");
      REQUIRE(r.status == 200);
      auto j = binary::parse_json(r.body);
      const binary::Json* list = j.type == binary::Json::Type::object ? j.find("connections") : &j;
      REQUIRE(list != nullptr);
      std::vector<WasimConnection> conns;
      for (const auto& c : list->items) {
        WasimConnection w;
        auto num = [](const binary::Json* x) -> std::optional<std::int64_t> {
          if (x == nullptr || x->type != binary::Json::Type::number) return std::nullopt;
          const auto n = static_cast<std::int64_t>(std::stod(x->text));
          return n > 0 ? std::optional<std::int64_t>(n) : std::nullopt;
        };
        w.logged_in_ms = num(c.find("logged_in_ms"));
        w.closed_ms = num(c.find("closed_ms"));
        logins += w.logged_in_ms ? 1 : 0;
        conns.push_back(w);
      }
      const auto o = overlap_ms(conns);
      INFO("device of " << id << " had two logins open for " << o << " ms");
      CHECK(o == 0);
      total += o;
    }
    std::cout << fmt::format("fleet: {} logins of {} devices, total overlap {} ms\n", logins, jids_.size(),
                             total);
  }

 private:
  hatest::TestDb db_;
  Wasim wasim_;
  std::vector<std::string> args_;
  std::vector<std::unique_ptr<hatest::Replica>> pods_;
  std::map<std::string, std::string> jids_;
};

}  // namespace

TEST_CASE(
    "fleet: 60 accounts over 3 pods are led evenly, a killed pod's accounts spread over the survivors, and "
    "its share comes back by handovers",
    "[e2e][fleet]") {
  Fleet f;
  f.pair_all();

  INFO("each of the 3 pods leads 20 +- 3, all 60 logged in");
  REQUIRE(hatest::wait_for([&] { return f.balanced(3); }, 60s));
  f.report("balanced");

  // SIGKILL pod-0: its accounts go to BOTH survivors and log in again.
  const auto before = f.views();
  const auto victims = before[0].led;
  REQUIRE(!victims.empty());
  const auto t0 = std::chrono::steady_clock::now();
  f.keep_logs("before-kill");
  f.pod(0).signal(SIGKILL);
  REQUIRE(f.pod(0).wait_exit(10s).has_value());
  REQUIRE(hatest::wait_for(
      [&] {
        const auto v = f.views();
        std::size_t n = 0;
        for (const auto& id : victims) n += v[1].logged_in.count(id) + v[2].logged_in.count(id);
        return n == victims.size();
      },
      60s));
  const auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  const auto after = f.views();
  int to1 = 0, to2 = 0;
  for (const auto& id : victims) {
    to1 += after[1].logged_in.count(id) ? 1 : 0;
    to2 += after[2].logged_in.count(id) ? 1 : 0;
  }
  std::cout << fmt::format(
      "fleet: SIGKILL pod-0 ({} accounts): all logged in again within {} ms (observed by /status "
      "polling); {} went to pod-1, {} to pod-2\n",
      victims.size(), took, to1, to2);
  CHECK(to1 >= static_cast<int>(victims.size()) / 4);
  CHECK(to2 >= static_cast<int>(victims.size()) / 4);
  REQUIRE(hatest::wait_for([&] { return f.balanced(2); }, 30s));
  f.report("after SIGKILL");

  // Restart pod-0: it gets its share back through graceful handovers.
  const auto handovers = [](const std::string& log) {
    std::size_t n = 0;
    for (auto at = log.find("\"account_handed_over\""); at != std::string::npos;
         at = log.find("\"account_handed_over\"", at + 1))
      ++n;
    return n;
  };
  const auto h0 = handovers(f.pod(1).log()) + handovers(f.pod(2).log());
  const auto t1 = std::chrono::steady_clock::now();
  f.start(0);
  REQUIRE(hatest::wait_for([&] { return f.balanced(3); }, 60s));
  const auto back =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t1).count();
  const auto h = handovers(f.pod(1).log()) + handovers(f.pod(2).log()) - h0;
  std::cout << fmt::format("fleet: restarted pod-0 back at its share in {} ms, {} graceful handovers\n", back,
                           h);
  CHECK(h >= 17);
  CHECK(f.views()[0].led.size() >= 17);
  f.report("rejoined");

  f.keep_logs("end");
  f.check_no_overlap();
}

}  // namespace wa::e2e
