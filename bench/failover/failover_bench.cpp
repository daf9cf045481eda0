// Failover drill as a benchmark: three `waconnector run` replicas compete for one account; the
// leader is killed (SIGKILL) or asked to leave (SIGTERM) N times each, and the time until another
// replica holds the lock is read from ha_events (database clock, same host as this process):
//   SIGKILL: kill() -> the new holder's acquired/takeover event
//   SIGTERM: the old holder's 'resigned' event -> the new holder's event (and kill() -> new event)
// Prints p50/p99/max. Not a test: it asserts nothing about timings.
//
// With --wasim the account is a real WhatsApp Web session against wasim: the bench pairs it once
// (a virtual phone scans the QR the leader stored), then measures death -> the new leader LOGGED
// IN, from wasim's own per-device connection list (logged_in_ms), and the total time two logins
// of the device overlapped (must be 0).
//
//   failover_bench --database-url URL [--cycles 50] [--standby-wait poll|block|both] [--poll-interval 500ms]
//                  [--bin-dir DIR] [--wasim]
// --standby-wait both (the default) runs poll mode (the default of `run`) and then block mode in
// the same run, each with its own database, replicas and wasim, and prints them side by side.
// Replica logs go to $WACONN_BENCH_LOG_DIR/<pod>.log when that is set (else /dev/null).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "../../tests/app/http_client.h"
#include "bench/common/percentiles.h"
#include "core/binary/json.h"
#include "store/accounts.h"
#include "store/ha_events.h"
#include "store/migrator.h"
#include "store/pg.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class Replica {
 public:
  Replica(const std::string& bin, const std::string& pod, const std::vector<std::string>& args) : pod_(pod) {
    std::vector<std::string> a{bin, "run", "--pod", pod, "--http", "127.0.0.1:0"};
    a.insert(a.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : a) argv.push_back(s.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      // WACONN_BENCH_LOG_DIR: keep each replica's JSON log (appended across restarts).
      const char* dir = std::getenv("WACONN_BENCH_LOG_DIR");
      const std::string path = dir ? std::string(dir) + "/" + pod + ".log" : std::string("/dev/null");
      const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      execv(bin.c_str(), argv.data());
      _exit(127);
    }
    if (pid_ < 0) throw std::runtime_error("fork failed");
  }
  ~Replica() {
    if (!reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;
  const std::string& pod() const { return pod_; }
  void signal(int s) { kill(pid_, s); }
  pid_t pid() const { return pid_; }
  void reap() {
    waitpid(pid_, nullptr, 0);
    reaped_ = true;
  }

 private:
  std::string pod_;
  pid_t pid_ = -1;
  bool reaped_ = false;
};

std::optional<wa::store::HaEvent> last_gain(wa::pg::Connection& c, std::int64_t after_id) {
  std::optional<wa::store::HaEvent> out;
  for (auto& e : wa::store::list_events(c, std::string("bench"), after_id))
    if (e.kind == wa::store::EventKind::acquired || e.kind == wa::store::EventKind::takeover) out = e;
  return out;
}

std::optional<wa::store::HaEvent> last_of(wa::pg::Connection& c, std::int64_t after_id,
                                          wa::store::EventKind k) {
  std::optional<wa::store::HaEvent> out;
  for (auto& e : wa::store::list_events(c, std::string("bench"), after_id))
    if (e.kind == k) out = e;
  return out;
}

template <typename F>
bool wait_for(F cond, std::chrono::milliseconds timeout) {
  const auto end = Clock::now() + timeout;
  while (Clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return cond();
}

// Standbys are standing by once they have really started competing: in poll mode their lock
// session's last statement is the try-lock poll, in block mode their waiter is queued on the lock.
// (An open session alone is not enough: a replica's first poll right after the kill would make
// the takeover look faster than steady state.)
int standing_by(wa::pg::Connection& c, bool block) {
  const char* sql =
      block ? "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'waconnector/%/wait'"
              " AND wait_event_type = 'Lock'"
            : "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'waconnector/%/lock'"
              " AND query LIKE '%pg_try_advisory_lock%'";
  return static_cast<int>(c.exec("count standing-by replicas", sql).i64(0, 0));
}

void report(const std::string& what, std::vector<std::int64_t> v) {
  wa::bench::report_ms("", what, 44, std::move(v));
}

// wasim as a child process; its JSON log goes to a file that is read for the ports and root key.
struct WasimProc {
  std::string dir, log_path;
  pid_t pid = -1;
  int ws_port = 0, admin_port = 0;
  std::string root_hex;

  explicit WasimProc(const std::string& bin) {
    dir = fmt::format("/tmp/failover-bench-wasim-{}", getpid());
    log_path = dir + ".log";
    if (std::system(fmt::format("rm -rf '{}' && mkdir -m 700 '{}'", dir, dir).c_str()) != 0)
      throw std::runtime_error("cannot create " + dir);
    pid = fork();
    if (pid == 0) {
      const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) dup2(fd, 2);
      execl(bin.c_str(), bin.c_str(), "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--state",
            dir.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    const auto end = Clock::now() + 10s;
    while (Clock::now() < end && (ws_port == 0 || root_hex.empty())) {
      std::this_thread::sleep_for(20ms);
      std::ifstream f(log_path);
      std::string line;
      while (std::getline(f, line)) {
        try {
          auto j = wa::binary::parse_json(line);
          const auto* ev = j.find("event");
          if (!ev) continue;
          if (ev->text == "wasim_listening") {
            ws_port = std::atoi(j.find("ws_port")->text.c_str());
            admin_port = std::atoi(j.find("admin_port")->text.c_str());
          } else if (ev->text == "wasim_root_key") {
            root_hex = j.find("root_public_key")->text;
          }
        } catch (const std::exception&) {
        }
      }
    }
    if (ws_port == 0 || root_hex.empty())
      throw std::runtime_error("wasim did not start (see " + log_path + ")");
  }
  ~WasimProc() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    [[maybe_unused]] int rc = std::system(fmt::format("rm -rf '{}'", dir).c_str());
  }

  struct Conn {
    std::int64_t logged_in_ms = 0;  // 0 = never logged in
    std::int64_t closed_ms = 0;     // 0 = still open
  };
  std::vector<Conn> connections(const std::string& jid) const {
    auto r = wa::test::http_request(admin_port, "GET", "/admin/devices/" + jid + "/connections");
    if (r.status != 200) throw std::runtime_error(fmt::format("wasim connections: {} {}", r.status, r.body));
    auto j = wa::binary::parse_json(r.body);
    const wa::binary::Json* list = j.type == wa::binary::Json::Type::object ? j.find("connections") : &j;
    std::vector<Conn> out;
    if (!list) return out;
    for (const auto& c : list->items) {
      Conn x;
      if (const auto* v = c.find("logged_in_ms"); v && v->type == wa::binary::Json::Type::number)
        x.logged_in_ms = static_cast<std::int64_t>(std::stod(v->text));
      if (const auto* v = c.find("closed_ms"); v && v->type == wa::binary::Json::Type::number)
        x.closed_ms = static_cast<std::int64_t>(std::stod(v->text));
      out.push_back(x);
    }
    return out;
  }
};

std::int64_t total_overlap(std::vector<WasimProc::Conn> v) {
  std::vector<WasimProc::Conn> logins;
  for (auto& c : v)
    if (c.logged_in_ms) logins.push_back(c);
  std::sort(logins.begin(), logins.end(), [](auto& a, auto& b) { return a.logged_in_ms < b.logged_in_ms; });
  std::int64_t total = 0;
  for (std::size_t i = 1; i < logins.size(); ++i) {
    const auto prev_end = logins[i - 1].closed_ms ? logins[i - 1].closed_ms : INT64_MAX;
    const auto cur_end = logins[i].closed_ms ? logins[i].closed_ms : INT64_MAX;
    total += std::max<std::int64_t>(0, std::min(prev_end, cur_end) - logins[i].logged_in_ms);
  }
  return total;
}

std::string arg(int argc, char** argv, const std::string& name, const std::string& def) {
  for (int i = 1; i + 1 < argc; ++i)
    if (name == argv[i]) return argv[i + 1];
  return def;
}

}  // namespace

struct Results {
  std::vector<std::int64_t> kill_ms, term_ms, term_signal_ms, kill_login_ms, term_login_ms;
  std::size_t logins = 0;
  std::int64_t overlap_ms = 0;
};

void print(const std::string& wait, const Results& r, bool with_wasim) {
  report(wait + " SIGKILL: kill -> new holder", r.kill_ms);
  report(wait + " SIGTERM: resigned event -> new holder", r.term_ms);
  report(wait + " SIGTERM: signal -> new holder", r.term_signal_ms);
  if (with_wasim) {
    report(wait + " SIGKILL: kill -> new leader logged in (wasim)", r.kill_login_ms);
    report(wait + " SIGTERM: signal -> new leader logged in (wasim)", r.term_login_ms);
    std::cout << fmt::format("{:<52} logins={} total overlap={} ms\n",
                             wait + " wasim: the device's connection list", r.logins, r.overlap_ms);
  }
}

// One mode: a private database, three replicas (and wasim), `cycles` SIGKILLs then SIGTERMs.
Results bench_mode(const std::string& url, const std::string& bin, const std::string& bin_dir,
                   const std::string& wait, const std::string& poll, int cycles, bool with_wasim) {
  Results res;
  auto& kill_ms = res.kill_ms;
  auto& term_ms = res.term_ms;
  auto& term_signal_ms = res.term_signal_ms;
  auto& kill_login_ms = res.kill_login_ms;
  auto& term_login_ms = res.term_login_ms;
  // A private database so the bench never touches real accounts.
  auto admin = wa::pg::Connection::open(url, "bench admin");
  std::random_device rd;
  const std::string db = fmt::format("waconn_bench_{:x}", rd());
  admin.exec_simple("create bench database", fmt::format("CREATE DATABASE {}", db).c_str());
  struct Drop {
    wa::pg::Connection& admin;
    std::string db;
    ~Drop() {
      try {
        admin.exec_simple("drop bench database",
                          fmt::format("DROP DATABASE IF EXISTS {} WITH (FORCE)", db).c_str());
      } catch (...) {
      }
    }
  } drop{admin, db};
  auto c = wa::pg::Connection::open(url, "bench", {{"dbname", db}});
  wa::store::migrate(c);
  wa::store::add_account(c, "bench", std::nullopt);
  // The replicas get the same parameters with the bench database.
  std::string conninfo;
  {
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
    if (!opts) throw std::runtime_error("cannot parse --database-url");
    for (auto* o = opts; o->keyword; ++o)
      if (o->val && std::string_view(o->keyword) != "dbname")
        conninfo += fmt::format("{}='{}' ", o->keyword, o->val);
    PQconninfoFree(opts);
    conninfo += "dbname=" + db;
  }
  std::vector<std::string> rargs{"--database-url", conninfo, "--business-id",   "bench",
                                 "--standby-wait", wait,     "--poll-interval", poll};
  std::unique_ptr<WasimProc> sim;
  if (with_wasim) {
    sim = std::make_unique<WasimProc>(bin_dir + "/wasim");
    rargs.insert(rargs.end(), {"--wa-url", fmt::format("ws://127.0.0.1:{}/ws/chat", sim->ws_port),
                               "--wa-root-key", sim->root_hex});
  } else {
    rargs.insert(rargs.end(), {"--wa-url", "none"});
  }

  std::vector<std::unique_ptr<Replica>> rs;
  for (int i = 0; i < 3; ++i) rs.push_back(std::make_unique<Replica>(bin, fmt::format("bench-{}", i), rargs));
  std::optional<wa::store::HaEvent> cur;
  if (!wait_for([&] { return (cur = last_gain(c, 0)).has_value(); }, 30s))
    throw std::runtime_error("no leader within 30 s");

  std::cout << fmt::format("failover_bench: 3 replicas, standby-wait={}, poll-interval={}, {} cycles each\n",
                           wait, poll, cycles);
  std::string jid;
  if (sim) {
    // Pair once: the leader stores the QR; a virtual phone scans it.
    std::string qr;
    if (!wait_for(
            [&] {
              auto r = c.exec("read QR", "SELECT qr_code FROM wa_accounts WHERE business_id = 'bench'");
              if (r.is_null(0, 0)) return false;
              qr = std::string(r.text(0, 0));
              return true;
            },
            30s))
      throw std::runtime_error("the leader published no QR within 30 s");
    const std::string phone = "+15550009001";
    auto p = wa::test::http_request(sim->admin_port, "POST", "/admin/phones",
                                    fmt::format("{{\"phone\":\"{}\"}}", phone),
                                    "Content-Type: application/json\r\n");
    if (p.status < 200 || p.status >= 300)
      throw std::runtime_error(fmt::format("wasim /admin/phones: {} {}", p.status, p.body));
    std::string body = "{\"qr\":";
    wa::binary::append_json_string(body, qr);
    body += "}";
    auto l = wa::test::http_request(sim->admin_port, "POST", "/admin/phones/" + phone + "/link", body,
                                    "Content-Type: application/json\r\n");
    if (l.status < 200 || l.status >= 300)
      throw std::runtime_error(fmt::format("wasim link: {} {}", l.status, l.body));
    if (!wait_for(
            [&] {
              auto r = c.exec("read jid", "SELECT jid, status FROM wa_accounts WHERE business_id = 'bench'");
              if (r.is_null(0, 0) || r.text(0, 1) != "connected") return false;
              jid = std::string(r.text(0, 0));
              return true;
            },
            30s))
      throw std::runtime_error("the account did not log in after pairing within 30 s");
    if (!wait_for([&] { return (cur = last_gain(c, 0)).has_value(); }, 5s))
      throw std::runtime_error("no leader");
    std::cout
        << "failover_bench: paired through wasim; measuring death -> new leader logged in (wasim clock)\n";
  }
  auto live_login = [&](std::int64_t after_ms) -> std::int64_t {
    for (const auto& x : sim->connections(jid))
      if (x.logged_in_ms > after_ms && x.closed_ms == 0) return x.logged_in_ms;
    return 0;
  };
  std::mt19937 phase_rng(rd());
  for (int phase = 0; phase < 2; ++phase) {
    const int sig = phase == 0 ? SIGKILL : SIGTERM;
    for (int i = 0; i < cycles; ++i) {
      // Every replica must be standing by (its lock session open) before the holder goes.
      if (!wait_for([&] { return standing_by(c, wait == "block") >= 2; }, 30s))
        throw std::runtime_error("the two standbys did not start competing within 30 s");
      if (sim && !wait_for([&] { return live_login(0) != 0; }, 30s))
        throw std::runtime_error("the leader is not logged in (wasim lists no live login) within 30 s");
      // A random phase against the standbys' poll timers (not synchronisation).
      std::this_thread::sleep_for(std::chrono::milliseconds(phase_rng() % 1000));
      auto it = std::find_if(rs.begin(), rs.end(), [&](auto& r) { return r->pod() == cur->pod; });
      if (it == rs.end()) throw std::runtime_error("leader is not one of ours");
      const auto t0 = unix_ms();
      (*it)->signal(sig);
      std::optional<wa::store::HaEvent> next;
      if (!wait_for([&] { return (next = last_gain(c, cur->id)).has_value(); }, 30s))
        throw std::runtime_error("no takeover within 30 s");
      if (sig == SIGKILL) {
        kill_ms.push_back(next->at_ms - t0);
      } else {
        term_signal_ms.push_back(next->at_ms - t0);
        if (auto r = last_of(c, cur->id, wa::store::EventKind::resigned))
          term_ms.push_back(next->at_ms - r->at_ms);
      }
      if (sim) {
        std::int64_t login = 0;
        if (!wait_for([&] { return (login = live_login(t0)) != 0; }, 30s))
          throw std::runtime_error("no new login within 30 s of the leader's death");
        (sig == SIGKILL ? kill_login_ms : term_login_ms).push_back(login - t0);
      }
      const std::string pod = (*it)->pod();
      (*it)->reap();
      *it = std::make_unique<Replica>(bin, pod, rargs);
      cur = next;
    }
  }
  if (sim) {
    const auto all = sim->connections(jid);
    for (auto& x : all) res.logins += x.logged_in_ms ? 1 : 0;
    res.overlap_ms = total_overlap(all);
  }
  return res;
}

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--help") == 0) {
      std::cout << "usage: failover_bench --database-url URL [--cycles 50] [--standby-wait poll|block|both]\n"
                   "                      [--poll-interval 500ms] [--bin-dir DIR] [--wasim]\n";
      return 0;
    }
  const char* env_url = std::getenv("DATABASE_URL");
  const std::string url = arg(argc, argv, "--database-url", env_url ? env_url : "");
  if (url.empty()) {
    std::cerr << "failover_bench: --database-url (or DATABASE_URL) is required\n";
    return 2;
  }
  const int cycles = std::atoi(arg(argc, argv, "--cycles", "50").c_str());
  const std::string wait = arg(argc, argv, "--standby-wait", "both");
  const std::string poll = arg(argc, argv, "--poll-interval", "500ms");
  std::string self_dir = argv[0];
  self_dir = self_dir.find('/') == std::string::npos ? "." : self_dir.substr(0, self_dir.rfind('/'));
  const std::string bin_dir = arg(argc, argv, "--bin-dir", self_dir);
  const std::string bin = bin_dir + "/waconnector";
  bool with_wasim = false;
  for (int i = 1; i < argc; ++i) with_wasim = with_wasim || std::strcmp(argv[i], "--wasim") == 0;

  std::vector<std::string> modes{wait};
  if (wait == "both") modes = {"poll", "block"};
  try {
    std::vector<std::pair<std::string, Results>> all;
    for (const auto& m : modes)
      all.emplace_back(m, bench_mode(url, bin, bin_dir, m, poll, cycles, with_wasim));
    if (all.size() > 1) std::cout << "failover_bench: both modes, same run, same machine:\n";
    for (const auto& [m, r] : all) print(m, r, with_wasim);
  } catch (const std::exception& e) {
    std::cerr << "failover_bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
