// The fleet as a benchmark (issue 10): N paired accounts on one wasim, served by P pods of
// `waconnector run` on the e2e fixture (its own database on WACONN_TEST_DATABASE_URL's cluster).
// Prints, it does not judge (no timing is asserted; a phase that cannot finish fails with why):
//   phones       one virtual phone per account created on wasim (POST /admin/phones), in parallel
//   pairing      every account paired through its phone (QR scans, several at once)
//   cold start   all pods stopped, then started at once -> every account logged in (wasim clock),
//                then -> every pod at its fair share (the first pod up takes many; handovers)
//   steady       RSS and threads per pod, PostgreSQL sessions per pod, transactions per second
//   SIGKILL      one pod killed -> each of its accounts logged in elsewhere: p50/p99/max, total
//   rejoin       the killed pod started again -> every pod back at its fair share, all logged in
//   one pod      everything on one pod, then more accounts in steps up to the maximum:
//                RSS per idle logged-in account (the slope between steps)
// Environment: WACONN_FLEET_ACCOUNTS (1000), WACONN_FLEET_PODS (3), WACONN_FLEET_ONE_POD_MAX
// (0: skip the one-pod phase), WACONN_FLEET_STEP (1000), WACONN_FLEET_ONE_POD_MINUTES (30: no new
// step after that), WACONN_FLEET_BUDGET_S (per phase; default one second per account, >= 120),
// WACONN_FLEET_IO_THREADS (pods' default), WACONN_FLEET_PAIR_THREADS (4: concurrent scans and
// phone creations), WACONN_FLEET_PAIR_IN_FLIGHT (50: accounts scanned and not connected yet),
// WACONN_FLEET_KEEP_LOGS (a directory: each pod's log is copied there before the pod is dropped).
// Run: bench/fleet/run.sh (starts a throwaway PostgreSQL cluster).
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "../app/http_client.h"
#include "bench/common/percentiles.h"
#include "cluster.h"
#include "core/binary/json.h"
#include "store/accounts.h"

namespace wa::fleetbench {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

int env_int(const char* name, int dflt) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : dflt;
}

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t ms_since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

std::string biz(int i) {
  return fmt::format("fleet-{:05}", i);
}

long proc_status_kb(pid_t pid, const char* key) {
  std::ifstream f(fmt::format("/proc/{}/status", pid));
  std::string line;
  const std::string k = std::string(key) + ":";
  while (std::getline(f, line))
    if (line.rfind(k, 0) == 0) return std::atol(line.c_str() + k.size());
  return -1;
}

// The parsed body, or nothing when it is empty or not JSON (a pod or wasim in the middle of a
// restart answers that way; the caller polls again).
std::optional<binary::Json> json_or_nothing(const std::string& body) {
  if (body.empty()) return std::nullopt;
  try {
    return binary::parse_json(body);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The text of a string member, "" when it is missing or not a string.
std::string_view string_field(const binary::Json& o, const char* key) {
  const auto* f = o.find(key);
  return f != nullptr && f->type == binary::Json::Type::string ? std::string_view(f->text)
                                                               : std::string_view();
}

void report(const std::string& what, std::vector<std::int64_t> v) {
  wa::bench::report_ms("fleet: ", what, 52, std::move(v));
}

// Runs job(i) for i in [0, n) on `threads` threads; a job that throws counts as failed (false).
std::vector<char> run_parallel(std::size_t n, int threads, const std::function<bool(std::size_t)>& job) {
  std::vector<char> ok(n, 0);  // char, not bool: each thread writes its own element
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < std::max(1, threads); ++t)
    pool.emplace_back([&] {
      for (std::size_t i; (i = next++) < n;) {
        try {
          ok[i] = job(i) ? 1 : 0;
        } catch (const std::exception& e) {
          std::cout << fmt::format("fleet: request failed: {}\n", e.what());
        }
      }
    });
  for (auto& t : pool) t.join();
  return ok;
}

// As hatest::wait_for, polling every `every` (wasim's connection list and the pods' /status are
// large at thousands of accounts: polled every 5 ms they would load what is being measured).
bool poll_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout,
                std::chrono::milliseconds every = std::chrono::milliseconds(250)) {
  const auto end = Clock::now() + timeout;
  for (;;) {
    if (cond()) return true;
    if (Clock::now() >= end) return false;
    std::this_thread::sleep_for(every);
  }
}

std::string phone_of(int n) {
  return fmt::format("+1556{:07}", n);
}

struct PodView {
  std::set<std::string> led;        // leader|active
  std::set<std::string> logged_in;  // led with a logged-in connection
};

// wasim's view: per device jid, the login times of its connections that are still open.
struct WasimView {
  std::map<std::string, std::vector<std::int64_t>> open_logins;  // jid -> logged_in_ms of open connections
  std::map<std::string, std::int64_t> first_login_after;         // filled by logins_after()
  std::size_t open = 0;
};

class Fleet {
 public:
  explicit Fleet(int accounts) {
    if (const char* d = std::getenv("WACONN_FLEET_KEEP_LOGS"); d != nullptr && *d != '\0') keep_logs_ = d;
    add_accounts(0, accounts);
    args_ = {"--database-url", db_.url(),       "--wa-url",
             wasim_.ws_url(),  "--wa-root-key", wasim_.root_key_hex()};
    if (const int t = env_int("WACONN_FLEET_IO_THREADS", -1); t >= 0) {
      args_.push_back("--io-threads");
      args_.push_back(std::to_string(t));
    }
  }

  ~Fleet() {
    for (auto& p : pods_) keep_log(p);
  }
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  void add_accounts(int from, int to) {
    auto c = db_.connect("register accounts");
    for (int i = from; i < to; ++i) store::add_account(c, biz(i), std::nullopt);
    accounts_ = std::max(accounts_, to);
  }
  int accounts() const { return accounts_; }

  void start(int i) {
    if (pods_.size() <= static_cast<std::size_t>(i)) pods_.resize(static_cast<std::size_t>(i) + 1);
    keep_log(pods_[static_cast<std::size_t>(i)]);
    pods_[static_cast<std::size_t>(i)] = std::make_unique<hatest::Replica>(fmt::format("pod-{}", i), args_);
  }
  void stop_all() {
    for (auto& p : pods_)
      if (p && p->running()) p->signal(SIGTERM);
    for (auto& p : pods_)
      if (p) p->wait_exit(60s);
    for (auto& p : pods_) keep_log(p);
    pods_.clear();
  }
  hatest::Replica& pod(int i) { return *pods_[static_cast<std::size_t>(i)]; }
  std::size_t pod_count() const { return pods_.size(); }
  hatest::TestDb& db() { return db_; }

  PodView view_of(int i) {
    PodView v;
    auto& r = pod(i);
    if (!r.running()) return v;
    const int port = r.http_port(2s);
    if (port <= 0) return v;
    const auto body = hatest::http_get(port, "/status").body;
    if (body.empty()) return v;
    const auto j = json_or_nothing(body);
    const auto* accounts = j ? j->find("accounts") : nullptr;
    if (accounts == nullptr) return v;
    for (const auto& a : accounts->items) {
      const auto id = string_field(a, "business_id");
      const auto role = string_field(a, "role");
      if (id.empty() || (role != "leader" && role != "active")) continue;
      v.led.emplace(id);
      if (string_field(a, "connection") == "logged_in") v.logged_in.emplace(id);
    }
    return v;
  }

  // Every open wasim connection's login; `after_ms`: also each device's first login at or after it
  // (closed connections included: a login that happened is a login, even if it moved since).
  WasimView wasim_view(std::int64_t after_ms = 0) {
    WasimView v;
    auto r = test::http_request(wasim_.admin_port(), "GET", "/admin/connections");
    if (r.status != 200) return v;
    const auto j = json_or_nothing(r.body);
    const auto* list = j ? j->find("connections") : nullptr;
    if (list == nullptr) return v;
    for (const auto& c : list->items) {
      const auto* jid = c.find("jid");
      const auto* li = c.find("logged_in_ms");
      const auto* closed = c.find("closed_ms");
      if (jid == nullptr || jid->type != binary::Json::Type::string) continue;
      const bool is_open = closed == nullptr || closed->type == binary::Json::Type::null;
      if (is_open) ++v.open;
      if (li == nullptr || li->type != binary::Json::Type::number) continue;
      const std::int64_t at = std::stoll(li->text);
      if (is_open) v.open_logins[jid->text].push_back(at);
      if (after_ms > 0 && at >= after_ms) {
        auto [it, fresh] = v.first_login_after.emplace(jid->text, at);
        if (!fresh) it->second = std::min(it->second, at);
      }
    }
    return v;
  }

  // Creates the virtual phones of accounts [from, to) on wasim, `threads` at a time: a phone
  // exists before it scans anything, so this is not part of pairing. False if any failed.
  bool create_phones(int from, int to, int threads) {
    const auto t0 = Clock::now();
    const auto ok = run_parallel(static_cast<std::size_t>(to - from), threads, [&](std::size_t i) {
      auto p = test::http_request(wasim_.admin_port(), "POST", "/admin/phones",
                                  fmt::format("{{\"phone\":\"{}\"}}", phone_of(from + static_cast<int>(i))),
                                  "Content-Type: application/json\r\n");
      if (p.status == 200 || p.status == 201) return true;
      std::cout << fmt::format("fleet: POST /admin/phones {} {}\n", p.status, p.body);
      return false;
    });
    const auto made = std::count(ok.begin(), ok.end(), 1);
    std::cout << fmt::format("fleet: phones {}..{}: {} created on wasim in {} ms ({} at a time)\n", from,
                             to - 1, made, ms_since(t0), threads);
    return made == to - from;
  }

  // Scans the published QRs of accounts [from, to) with their phones, `threads` scans at a time and
  // at most `in_flight` scanned but not yet connected (pairing is what costs a pod most: a new
  // device's 812 pre-keys are made, stored and uploaded; a thousand at once overloaded the pods
  // into timeouts), until all are paired and connected; returns the jids by business_id. A QR is
  // read fresh each round (one read long ago has expired by the time a loaded machine gets to it),
  // and an account whose scan did not end in a pairing is scanned again with its next QR after
  // 30 s. An account its pod gave up (logged_out: wasim refused its first login because the
  // pairing did not finish on wasim's side) is counted and printed, not waited for.
  // False (after printing how far it got) when not all were paired within `timeout`.
  bool pair(int from, int to, std::chrono::milliseconds timeout, int threads, int in_flight) {
    auto c = db_.connect("pairing");
    std::map<std::string, Clock::time_point> scanned;  // business_id -> when its QR was scanned
    const auto t0 = Clock::now();
    int paired = 0, scans = 0, lost = 0;
    auto in_range = [&](const std::string& id) {
      const int k = std::stoi(id.substr(6));
      return k >= from && k < to;
    };
    const bool ok = poll_until(
        [&] {
          // Accounts not connected yet (with the QR they show, if any); the rest are done.
          auto r = c.exec("not connected",
                          "SELECT business_id, qr_code, status FROM wa_accounts "
                          "WHERE jid IS NULL OR status <> 'connected'");
          std::vector<std::pair<std::string, std::string>> todo;  // business_id, QR
          std::vector<std::pair<std::string, std::string>> showing;
          int open = 0, gone = 0;
          for (int i = 0; i < r.rows(); ++i) {
            std::string id(r.text(i, 0));
            if (!in_range(id)) continue;
            ++open;
            if (r.text(i, 2) == "logged_out") {
              ++gone;
              continue;
            }
            const auto it = scanned.find(id);
            const bool recent = it != scanned.end() && Clock::now() - it->second < 30s;
            if (recent) continue;
            if (!r.is_null(i, 1)) showing.emplace_back(std::move(id), std::string(r.text(i, 1)));
          }
          lost = gone;
          paired = (to - from) - open;
          if (open == gone) return true;
          int pairing = 0;  // scanned in the last 30 s and not connected yet
          for (int i = 0; i < r.rows(); ++i) {
            const auto it = scanned.find(std::string(r.text(i, 0)));
            if (it != scanned.end() && Clock::now() - it->second < 30s) ++pairing;
          }
          for (auto& s : showing) {
            if (pairing + static_cast<int>(todo.size()) >= in_flight) break;
            todo.push_back(std::move(s));
          }
          const auto ok = run_parallel(todo.size(), threads, [&](std::size_t i) {
            std::string body = "{\"qr\":";
            binary::append_json_string(body, todo[i].second);
            body += "}";
            const auto& id = todo[i].first;
            auto l = test::http_request(wasim_.admin_port(), "POST",
                                        "/admin/phones/" + phone_of(std::stoi(id.substr(6))) + "/link", body,
                                        "Content-Type: application/json\r\n");
            // A QR that expired meanwhile is answered 4xx: a later round reads the new one.
            return l.status >= 200 && l.status < 300;
          });
          for (std::size_t i = 0; i < todo.size(); ++i)
            if (ok[i]) {
              scanned[todo[i].first] = Clock::now();
              ++scans;
            }
          return false;
        },
        timeout, 200ms);
    std::cout << fmt::format(
        "fleet: pairing accounts {}..{}: {} of {} paired and connected after {} ms ({} scans, {} at a time, "
        "at "
        "most {} pairing at once)\n",
        from, to - 1, paired, to - from, ms_since(t0), scans, threads, in_flight);
    if (lost > 0)
      std::cout << fmt::format(
          "fleet: pairing: {} accounts logged out (wasim refused their first login: the pairing did not "
          "finish "
          "on its side); left out of the phases below\n",
          lost);
    auto r = c.exec(
        "jids", "SELECT business_id, jid FROM wa_accounts WHERE jid IS NOT NULL AND status = 'connected'");
    for (int i = 0; i < r.rows(); ++i) {
      jids_[std::string(r.text(i, 0))] = std::string(r.text(i, 1));
      by_jid_[std::string(r.text(i, 1))] = std::string(r.text(i, 0));
    }
    return ok;
  }

  const std::map<std::string, std::string>& jids() const { return jids_; }

  // Logins wasim saw replace a live one (two live logins for a moment) since the last call.
  long logins_replaced_since_last() {
    auto r = test::http_request(wasim_.admin_port(), "GET", "/admin/health");
    const auto j = json_or_nothing(r.body);
    const auto* counters = j ? j->find("counters") : nullptr;
    const auto* n = counters ? counters->find("logins_replaced") : nullptr;
    if (n == nullptr || n->type != binary::Json::Type::number) return -1;
    const long total = std::stol(n->text);
    const long since = total - replaced_seen_;
    replaced_seen_ = total;
    return since;
  }
  void print_overlap(const std::string& phase) {
    std::cout << fmt::format("fleet: [{}] logins that replaced a live login on wasim (overlap): {}\n", phase,
                             logins_replaced_since_last());
  }

  // Accounts with exactly one open, logged-in wasim connection (and how many have more).
  std::pair<int, int> logged_in_once(const WasimView& w) {
    int once = 0, twice = 0;
    for (const auto& [id, jid] : jids_) {
      auto it = w.open_logins.find(jid);
      if (it == w.open_logins.end()) continue;
      if (it->second.size() == 1)
        ++once;
      else
        ++twice;
    }
    return {once, twice};
  }

  // PostgreSQL sessions by pod (application_name waconnector/<pod>/...).
  std::map<std::string, int> sessions_by_pod() {
    auto c = db_.connect("count sessions");
    auto r = c.exec("sessions",
                    "SELECT split_part(application_name, '/', 2), count(*) FROM pg_stat_activity "
                    "WHERE application_name LIKE 'waconnector/%' GROUP BY 1");
    std::map<std::string, int> out;
    for (int i = 0; i < r.rows(); ++i) out[std::string(r.text(i, 0))] = static_cast<int>(r.i64(i, 1));
    return out;
  }

  // Transactions per second in the bench database over `window` (pg_stat_database; the stats
  // are flushed lazily, so the window is long).
  double xacts_per_second(std::chrono::seconds window) {
    auto c = db_.connect("xact counter");
    auto read = [&] {
      c.exec("flush", "SELECT pg_stat_clear_snapshot()");
      auto r = c.exec(
          "xacts",
          "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()");
      return r.i64(0, 0);
    };
    const auto a = read();
    std::this_thread::sleep_for(window);
    const auto b = read();
    return static_cast<double>(b - a - 2) / static_cast<double>(window.count());
  }

  void print_pods(const std::string& phase) {
    const auto sessions = sessions_by_pod();
    for (std::size_t i = 0; i < pods_.size(); ++i) {
      auto& p = *pods_[i];
      if (!p.running()) continue;
      const auto v = view_of(static_cast<int>(i));
      auto s = sessions.find(p.pod());
      std::cout << fmt::format(
          "fleet: [{}] {} leads {} (logged in {}), RSS {} kB, threads {}, PostgreSQL sessions {}\n", phase,
          p.pod(), v.led.size(), v.logged_in.size(), proc_status_kb(p.pid(), "VmRSS"),
          proc_status_kb(p.pid(), "Threads"), s == sessions.end() ? 0 : s->second);
    }
  }

  // Waits until every running pod leads ceil(N / pods) +- max(3, 5 %) and every account is logged in
  // on its leader; prints the shares and returns whether it got there within `timeout`.
  bool wait_balanced(std::chrono::milliseconds timeout, const std::string& what) {
    const auto t0 = Clock::now();
    std::vector<int> live;
    for (std::size_t i = 0; i < pods_.size(); ++i)
      if (pods_[i] && pods_[i]->running()) live.push_back(static_cast<int>(i));
    const int n = static_cast<int>(jids_.size());
    const int fair = (n + static_cast<int>(live.size()) - 1) / static_cast<int>(live.size());
    const int tolerance = std::max(3, fair / 20);
    std::vector<std::size_t> led(live.size());
    std::size_t logged = 0;
    const bool ok = poll_until(
        [&] {
          logged = 0;
          bool even = true;
          for (std::size_t k = 0; k < live.size(); ++k) {
            const auto v = view_of(live[k]);
            led[k] = v.led.size();
            logged += v.logged_in.size();
            if (std::abs(static_cast<int>(v.led.size()) - fair) > tolerance) even = false;
          }
          return even && logged == static_cast<std::size_t>(n);
        },
        timeout, 500ms);
    std::string shares;
    for (auto l : led) shares += fmt::format(" {}", l);
    std::cout << fmt::format(
        "fleet: {}: every pod at {} +- {} and all logged in: {} ({} ms; led per pod:{}, logged in {})\n",
        what, fair, tolerance, ok ? "yes" : "NO (timed out)", ms_since(t0), shares, logged);
    return ok;
  }

  // Waits until every account is logged in exactly once on wasim; returns the ms it took (-1:
  // timeout, with what was reached printed).
  std::int64_t wait_all_logged_in(std::chrono::milliseconds timeout, const std::string& what) {
    const auto t0 = Clock::now();
    int once = 0, twice = 0;
    const bool ok = poll_until(
        [&] {
          std::tie(once, twice) = logged_in_once(wasim_view());
          return once == static_cast<int>(jids_.size());
        },
        timeout);
    if (!ok)
      std::cout << fmt::format("fleet: {}: only {} of {} logged in ({} with two open logins) after {} ms\n",
                               what, once, jids_.size(), twice, ms_since(t0));
    return ok ? ms_since(t0) : -1;
  }

 private:
  hatest::TestDb db_;
  e2e::Wasim wasim_;
  std::vector<std::string> args_;
  std::vector<std::unique_ptr<hatest::Replica>> pods_;
  std::map<std::string, std::string> jids_;
  std::map<std::string, std::string> by_jid_;
  int accounts_ = 0;
  std::string keep_logs_;
  int kept_ = 0;
  long replaced_seen_ = 0;

  // Copies a pod's log to WACONN_FLEET_KEEP_LOGS before the pod (and its log) is dropped.
  void keep_log(const std::unique_ptr<hatest::Replica>& p) {
    if (!p || keep_logs_.empty()) return;
    std::ofstream(fmt::format("{}/{}-{}.log", keep_logs_, p->pod(), kept_++)) << p->log();
  }
};

TEST_CASE("fleet bench", "[.fleet]") {
  const int n = env_int("WACONN_FLEET_ACCOUNTS", 1000);
  const int pods = env_int("WACONN_FLEET_PODS", 3);
  const int one_pod_max = env_int("WACONN_FLEET_ONE_POD_MAX", 0);
  const int step = std::max(1, env_int("WACONN_FLEET_STEP", 1000));
  const int threads = std::max(1, env_int("WACONN_FLEET_PAIR_THREADS", 4));
  const int in_flight = std::max(1, env_int("WACONN_FLEET_PAIR_IN_FLIGHT", 50));
  // Per phase; pairing runs at a few accounts a second on a shared two-core machine.
  const auto budget = std::chrono::seconds(env_int("WACONN_FLEET_BUDGET_S", std::max(120, n)));
  // The one-pod phase adds steps while this many minutes have not passed since it began.
  const int one_pod_minutes = env_int("WACONN_FLEET_ONE_POD_MINUTES", 30);
  std::cout << std::unitbuf;  // every line as it comes (a run may be cut short)
  std::cout << fmt::format("fleet: {} accounts, {} pods, one-pod maximum {}\n", n, pods, one_pod_max);
  Fleet f(n);

  // --- phones, then pairing
  REQUIRE(f.create_phones(0, n, threads));
  for (int i = 0; i < pods; ++i) f.start(i);
  REQUIRE(f.pair(0, n, budget, threads, in_flight));
  f.print_overlap("pairing");

  // --- cold start
  f.stop_all();
  {
    const auto t0_ms = unix_ms();
    const auto t0 = Clock::now();
    for (int i = 0; i < pods; ++i) f.start(i);
    const auto all = f.wait_all_logged_in(budget, "cold start");
    const auto w = f.wasim_view(t0_ms);
    std::vector<std::int64_t> lat;
    for (const auto& [id, jid] : f.jids())
      if (auto it = w.first_login_after.find(jid); it != w.first_login_after.end())
        lat.push_back(it->second - t0_ms);
    report("cold start: pods started -> account logged in", lat);
    std::cout << fmt::format(
        "fleet: cold start: all {} accounts logged in {} ms after the pods were started\n", f.jids().size(),
        all < 0 ? -1 : ms_since(t0));
    REQUIRE(all >= 0);
    // The first pod up takes more than its share; handovers (one per --handover-interval per pod)
    // even it out. Steady state is measured once they have.
    const bool even = f.wait_balanced(budget, "cold start: balanced");
    std::cout << fmt::format("fleet: cold start: pods started -> balanced: {} ms{}\n", ms_since(t0),
                             even ? "" : " (not balanced: timed out)");
    f.print_overlap("cold start and balancing");
  }

  // --- steady state
  std::this_thread::sleep_for(5s);
  f.print_pods("steady");
  // For the RSS slope: the pods' mean RSS and mean share now, against one pod with all later.
  double steady_rss = 0, steady_led = 0;
  for (int i = 0; i < pods; ++i) {
    steady_rss += static_cast<double>(proc_status_kb(f.pod(i).pid(), "VmRSS")) / pods;
    steady_led += static_cast<double>(f.view_of(i).led.size()) / pods;
  }
  std::cout << fmt::format(
      "fleet: [steady] PostgreSQL transactions per second (bench database, 20 s): {:.1f}\n",
      f.xacts_per_second(20s));

  // --- SIGKILL one pod
  {
    const auto victim = f.view_of(0);
    std::vector<std::string> jids;
    for (const auto& id : victim.led) jids.push_back(f.jids().at(id));
    const auto t_kill = unix_ms();
    f.pod(0).signal(SIGKILL);
    std::map<std::string, std::int64_t> back;
    const bool ok = poll_until(
        [&] {
          const auto w = f.wasim_view(t_kill);
          back.clear();
          for (const auto& j : jids)
            if (auto it = w.first_login_after.find(j); it != w.first_login_after.end())
              back[j] = it->second - t_kill;
          return back.size() == jids.size();
        },
        budget, 100ms);
    std::vector<std::int64_t> lat;
    for (const auto& [j, ms] : back) lat.push_back(ms);
    report(fmt::format("SIGKILL pod-0 ({} accounts): kill -> logged in elsewhere", jids.size()), lat);
    std::cout << fmt::format("fleet: SIGKILL: {} of {} accounts logged in elsewhere, total {} ms\n",
                             back.size(), jids.size(),
                             lat.empty() ? -1 : *std::max_element(lat.begin(), lat.end()));
    REQUIRE(ok);
    f.pod(0).wait_exit(5s);
    f.print_pods("after SIGKILL");
    f.print_overlap("steady and SIGKILL");
  }

  // --- rejoin: the killed pod comes back and gets its share by handovers
  {
    f.start(0);
    f.wait_balanced(budget, "rejoin: pod-0 restarted ->");
    f.print_pods("after rejoin");
    f.print_overlap("rejoin");
  }

  // --- one pod: all accounts, then more in steps
  if (one_pod_max > 0) {
    f.stop_all();
    f.start(0);
    auto settle = [&](int count) {
      REQUIRE(f.wait_all_logged_in(budget, fmt::format("one pod, {} accounts", count)) >= 0);
      std::this_thread::sleep_for(10s);  // idle: keepalives only
      const long rss = proc_status_kb(f.pod(0).pid(), "VmRSS");
      f.print_pods(fmt::format("one pod, {} accounts", count));
      return rss;
    };
    const auto phase_start = Clock::now();
    int count = n;
    long rss = settle(count);
    std::cout << fmt::format(
        "fleet: one pod: {:.0f} accounts (mean of {} pods) -> {} accounts on one pod: RSS {:.0f} -> {} kB, "
        "{:.1f} kB per idle logged-in account\n",
        steady_led, pods, count, steady_rss, rss,
        (static_cast<double>(rss) - steady_rss) / (count - steady_led));
    const long rss_first = rss;
    const int first = count;
    while (count < one_pod_max && Clock::now() - phase_start < std::chrono::minutes(one_pod_minutes)) {
      const int next = std::min(one_pod_max, count + step);
      if (!f.create_phones(count, next, threads)) break;
      f.add_accounts(count, next);
      if (!f.pair(count, next, std::chrono::seconds(std::max(120, next - count)), threads, in_flight)) {
        // Pairing throughput (wasim's one thread, the machine), not the pod, ends the steps.
        std::cout << fmt::format(
            "fleet: one pod: stopped adding at {} accounts: the step to {} did not pair in time\n", count,
            next);
        break;
      }
      const long r2 = settle(next);
      std::cout << fmt::format(
          "fleet: one pod: {} -> {} accounts: RSS {} -> {} kB, {:.1f} kB per idle logged-in account\n", count,
          next, rss, r2, static_cast<double>(r2 - rss) / (next - count));
      count = next;
      rss = r2;
    }
    if (count > first)
      std::cout << fmt::format(
          "fleet: one pod: reached {} logged-in accounts; RSS per idle account {:.1f} kB ({} -> {})\n", count,
          static_cast<double>(rss - rss_first) / (count - first), first, count);
    // What the pod holds now: a step that did not finish pairing leaves more than `count`.
    const auto held = f.view_of(0);
    const double tps = f.xacts_per_second(20s);
    std::cout << fmt::format(
        "fleet: [one pod] PostgreSQL transactions per second with {} accounts led ({} logged in) (20 s): "
        "{:.1f}; RSS {} kB\n",
        held.led.size(), held.logged_in.size(), tps, proc_status_kb(f.pod(0).pid(), "VmRSS"));
  }
  f.stop_all();
}

}  // namespace
}  // namespace wa::fleetbench
