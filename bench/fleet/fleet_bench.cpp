// The fleet as a benchmark (issue 10): N paired accounts on one wasim, served by P pods of
// `waconnector run` on the e2e fixture (its own database on WACONN_TEST_DATABASE_URL's cluster).
// Prints, it does not judge (no timing is asserted; a phase that cannot finish fails with why):
//   pairing      every account paired through a virtual phone of its own (QR scans)
//   cold start   all pods stopped, then started at once -> every account logged in (wasim clock)
//   steady       RSS and threads per pod, PostgreSQL sessions per pod, transactions per second
//   SIGKILL      one pod killed -> each of its accounts logged in elsewhere: p50/p99/max, total
//   rejoin       the killed pod started again -> every pod back at its fair share, all logged in
//   one pod      everything on one pod, then more accounts in steps up to the maximum:
//                RSS per idle logged-in account (the slope between steps)
// Environment: WACONN_FLEET_ACCOUNTS (1000), WACONN_FLEET_PODS (3), WACONN_FLEET_ONE_POD_MAX
// (0: skip the one-pod phase), WACONN_FLEET_STEP (1000), WACONN_FLEET_ONE_POD_MINUTES (30: no new
// step after that), WACONN_FLEET_BUDGET_S (per phase; default one second per account, >= 120),
// WACONN_FLEET_IO_THREADS (pods' default).
// Run: bench/fleet/run.sh (starts a throwaway PostgreSQL cluster).
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>

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
    add_accounts(0, accounts);
    args_ = {"--database-url", db_.url(),       "--wa-url",
             wasim_.ws_url(),  "--wa-root-key", wasim_.root_key_hex()};
    if (const int t = env_int("WACONN_FLEET_IO_THREADS", -1); t >= 0) {
      args_.push_back("--io-threads");
      args_.push_back(std::to_string(t));
    }
  }

  void add_accounts(int from, int to) {
    auto c = db_.connect("register accounts");
    for (int i = from; i < to; ++i) store::add_account(c, biz(i), std::nullopt);
    accounts_ = std::max(accounts_, to);
  }
  int accounts() const { return accounts_; }

  void start(int i) {
    if (pods_.size() <= static_cast<std::size_t>(i)) pods_.resize(static_cast<std::size_t>(i) + 1);
    pods_[static_cast<std::size_t>(i)] = std::make_unique<hatest::Replica>(fmt::format("pod-{}", i), args_);
  }
  void stop_all() {
    for (auto& p : pods_)
      if (p && p->running()) p->signal(SIGTERM);
    for (auto& p : pods_)
      if (p) p->wait_exit(60s);
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

  // Scans every published QR of accounts [from, to) with a virtual phone of its own until all are
  // paired and connected; returns the jids by business_id.
  // False (after printing how far it got) when not all were paired within `timeout`.
  bool pair(int from, int to, std::chrono::milliseconds timeout) {
    auto c = db_.connect("pairing");
    std::set<std::string> linked;
    const auto t0 = Clock::now();
    int paired = 0;
    const bool ok = hatest::wait_for(
        [&] {
          // A few per round, read fresh each round: a QR read long ago has expired by the time a
          // slow (loaded) wasim gets to it, and its account then waits out a give-up backoff.
          auto r = c.exec(
              "QRs",
              "SELECT business_id, qr_code FROM wa_accounts WHERE jid IS NULL AND qr_code IS NOT NULL");
          int this_round = 0;
          for (int i = 0; i < r.rows() && this_round < 8; ++i) {
            const std::string id(r.text(i, 0));
            const int n = std::stoi(id.substr(6));
            if (n < from || n >= to || linked.count(id)) continue;
            ++this_round;
            const auto phone = fmt::format("+1556{:07}", n);
            auto p = test::http_request(wasim_.admin_port(), "POST", "/admin/phones",
                                        fmt::format("{{\"phone\":\"{}\"}}", phone),
                                        "Content-Type: application/json\r\n");
            if (p.status < 200 || (p.status >= 300 && p.status != 409)) {
              std::cout << fmt::format("fleet: POST /admin/phones {} {}\n", p.status, p.body);
              continue;
            }
            std::string body = "{\"qr\":";
            binary::append_json_string(body, std::string(r.text(i, 1)));
            body += "}";
            auto l = test::http_request(wasim_.admin_port(), "POST", "/admin/phones/" + phone + "/link", body,
                                        "Content-Type: application/json\r\n");
            // A QR that expired meanwhile is answered 4xx: the next round reads the new one.
            if (l.status >= 200 && l.status < 300) linked.insert(id);
          }
          auto done = c.exec(
              "paired", "SELECT count(*) FROM wa_accounts WHERE jid IS NOT NULL AND status = 'connected'");
          paired = static_cast<int>(done.i64(0, 0));
          return paired >= to;
        },
        timeout);
    std::cout << fmt::format("fleet: pairing accounts {}..{}: {} of {} paired and connected after {} ms\n",
                             from, to - 1, paired, to, ms_since(t0));
    auto r = c.exec("jids", "SELECT business_id, jid FROM wa_accounts WHERE jid IS NOT NULL");
    for (int i = 0; i < r.rows(); ++i) {
      jids_[std::string(r.text(i, 0))] = std::string(r.text(i, 1));
      by_jid_[std::string(r.text(i, 1))] = std::string(r.text(i, 0));
    }
    return ok;
  }

  const std::map<std::string, std::string>& jids() const { return jids_; }

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

  // Waits until every account is logged in exactly once on wasim; returns the ms it took (-1:
  // timeout, with what was reached printed).
  std::int64_t wait_all_logged_in(std::chrono::milliseconds timeout, const std::string& what) {
    const auto t0 = Clock::now();
    int once = 0, twice = 0;
    const bool ok = hatest::wait_for(
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
};

TEST_CASE("fleet bench", "[.fleet]") {
  const int n = env_int("WACONN_FLEET_ACCOUNTS", 1000);
  const int pods = env_int("WACONN_FLEET_PODS", 3);
  const int one_pod_max = env_int("WACONN_FLEET_ONE_POD_MAX", 0);
  const int step = std::max(1, env_int("WACONN_FLEET_STEP", 1000));
  // Per phase; pairing runs at a few accounts a second on a shared two-core machine.
  const auto budget = std::chrono::seconds(env_int("WACONN_FLEET_BUDGET_S", std::max(120, n)));
  // The one-pod phase adds steps while this many minutes have not passed since it began.
  const int one_pod_minutes = env_int("WACONN_FLEET_ONE_POD_MINUTES", 30);
  std::cout << std::unitbuf;  // every line as it comes (a run may be cut short)
  std::cout << fmt::format("fleet: {} accounts, {} pods, one-pod maximum {}\n", n, pods, one_pod_max);
  Fleet f(n);

  // --- pairing
  for (int i = 0; i < pods; ++i) f.start(i);
  REQUIRE(f.pair(0, n, budget));

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
    const auto t0 = Clock::now();
    f.pod(0).signal(SIGKILL);
    std::map<std::string, std::int64_t> back;
    const bool ok = hatest::wait_for(
        [&] {
          const auto w = f.wasim_view(t_kill);
          back.clear();
          for (const auto& j : jids)
            if (auto it = w.first_login_after.find(j); it != w.first_login_after.end())
              back[j] = it->second - t_kill;
          return back.size() == jids.size();
        },
        budget);
    std::vector<std::int64_t> lat;
    for (const auto& [j, ms] : back) lat.push_back(ms);
    report(fmt::format("SIGKILL pod-0 ({} accounts): kill -> logged in elsewhere", jids.size()), lat);
    std::cout << fmt::format("fleet: SIGKILL: {} of {} accounts logged in elsewhere, total {} ms\n",
                             back.size(), jids.size(),
                             lat.empty() ? -1 : *std::max_element(lat.begin(), lat.end()));
    (void)t0;
    REQUIRE(ok);
    f.pod(0).wait_exit(5s);
    f.print_pods("after SIGKILL");
  }

  // --- rejoin: the killed pod comes back and gets its share by handovers
  {
    const auto t0 = Clock::now();
    f.start(0);
    const int fair = (n + pods - 1) / pods;
    const int tolerance = std::max(3, fair / 20);
    std::vector<std::size_t> led(static_cast<std::size_t>(pods));
    std::size_t logged = 0;
    const bool ok = hatest::wait_for(
        [&] {
          logged = 0;
          bool even = true;
          for (int i = 0; i < pods; ++i) {
            const auto v = f.view_of(i);
            led[static_cast<std::size_t>(i)] = v.led.size();
            logged += v.logged_in.size();
            if (std::abs(static_cast<int>(v.led.size()) - fair) > tolerance) even = false;
          }
          return even && logged == static_cast<std::size_t>(n);
        },
        budget);
    std::string shares;
    for (auto l : led) shares += fmt::format(" {}", l);
    std::cout << fmt::format(
        "fleet: rejoin: pod-0 restarted -> every pod at {} +- {} and all logged in: {} ({} ms; "
        "led per pod:{}, logged in {})\n",
        fair, tolerance, ok ? "yes" : "NO (timed out)", ms_since(t0), shares, logged);
    f.print_pods("after rejoin");
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
      f.add_accounts(count, next);
      if (!f.pair(count, next, std::chrono::seconds(std::max(120, next - count)))) {
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
    std::cout << fmt::format(
        "fleet: [one pod] PostgreSQL transactions per second at {} accounts (20 s): {:.1f}\n", count,
        f.xacts_per_second(20s));
  }
  f.stop_all();
}

}  // namespace
}  // namespace wa::fleetbench
