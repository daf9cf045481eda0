// Failover drill as a benchmark: three `waconnector run` replicas compete for one account; the
// leader is killed (SIGKILL) or asked to leave (SIGTERM) N times each, and the time until another
// replica holds the lock is read from ha_events (database clock, same host as this process):
//   SIGKILL: kill() -> the new holder's acquired/takeover event
//   SIGTERM: the old holder's 'resigned' event -> the new holder's event (and kill() -> new event)
// Prints p50/p99/max. Not a test: it asserts nothing about timings.
//
//   failover_bench --database-url URL [--cycles 50] [--standby-wait poll|block] [--poll-interval 500ms]
//                  [--bin-dir DIR]
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "store/accounts.h"
#include "store/ha_events.h"
#include "store/migrator.h"
#include "store/pg.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
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
      const int fd = open("/dev/null", O_WRONLY);
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

std::optional<wa::store::HaEvent> last_of(wa::pg::Connection& c, std::int64_t after_id, wa::store::EventKind k) {
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
  const char* sql = block ? "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'waconnector/%/wait'"
                            " AND wait_event_type = 'Lock'"
                          : "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'waconnector/%/lock'"
                            " AND query LIKE '%pg_try_advisory_lock%'";
  return static_cast<int>(c.exec("count standing-by replicas", sql).i64(0, 0));
}

void report(const std::string& what, std::vector<std::int64_t> v) {
  if (v.empty()) {
    std::cout << fmt::format("{:<44} no samples\n", what);
    return;
  }
  std::sort(v.begin(), v.end());
  auto pct = [&](double p) {
    const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
    return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
  };
  std::cout << fmt::format("{:<44} n={:<4} p50={:>5} ms  p99={:>5} ms  max={:>5} ms\n", what, v.size(), pct(50), pct(99),
                           v.back());
}

std::string arg(int argc, char** argv, const std::string& name, const std::string& def) {
  for (int i = 1; i + 1 < argc; ++i)
    if (name == argv[i]) return argv[i + 1];
  return def;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--help") == 0) {
      std::cout << "usage: failover_bench --database-url URL [--cycles 50] [--standby-wait poll|block]\n"
                   "                      [--poll-interval 500ms] [--bin-dir DIR]\n";
      return 0;
    }
  const char* env_url = std::getenv("DATABASE_URL");
  const std::string url = arg(argc, argv, "--database-url", env_url ? env_url : "");
  if (url.empty()) {
    std::cerr << "failover_bench: --database-url (or DATABASE_URL) is required\n";
    return 2;
  }
  const int cycles = std::atoi(arg(argc, argv, "--cycles", "50").c_str());
  const std::string wait = arg(argc, argv, "--standby-wait", "poll");
  const std::string poll = arg(argc, argv, "--poll-interval", "500ms");
  std::string self_dir = argv[0];
  self_dir = self_dir.find('/') == std::string::npos ? "." : self_dir.substr(0, self_dir.rfind('/'));
  const std::string bin = arg(argc, argv, "--bin-dir", self_dir) + "/waconnector";

  try {
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
          admin.exec_simple("drop bench database", fmt::format("DROP DATABASE IF EXISTS {} WITH (FORCE)", db).c_str());
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
        if (o->val && std::string_view(o->keyword) != "dbname") conninfo += fmt::format("{}='{}' ", o->keyword, o->val);
      PQconninfoFree(opts);
      conninfo += "dbname=" + db;
    }
    const std::vector<std::string> rargs{"--database-url", conninfo, "--business-id", "bench", "--standby-wait", wait,
                                         "--poll-interval", poll};

    std::vector<std::unique_ptr<Replica>> rs;
    for (int i = 0; i < 3; ++i) rs.push_back(std::make_unique<Replica>(bin, fmt::format("bench-{}", i), rargs));
    std::optional<wa::store::HaEvent> cur;
    if (!wait_for([&] { return (cur = last_gain(c, 0)).has_value(); }, 30s)) throw std::runtime_error("no leader within 30 s");

    std::cout << fmt::format("failover_bench: 3 replicas, standby-wait={}, poll-interval={}, {} cycles each\n", wait, poll,
                             cycles);
    std::vector<std::int64_t> kill_ms, term_ms, term_signal_ms;
    std::mt19937 phase_rng(rd());
    for (int phase = 0; phase < 2; ++phase) {
      const int sig = phase == 0 ? SIGKILL : SIGTERM;
      for (int i = 0; i < cycles; ++i) {
        // Every replica must be standing by (its lock session open) before the holder goes.
        if (!wait_for([&] { return standing_by(c, wait == "block") >= 2; }, 30s))
          throw std::runtime_error("the two standbys did not start competing within 30 s");
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
          if (auto r = last_of(c, cur->id, wa::store::EventKind::resigned)) term_ms.push_back(next->at_ms - r->at_ms);
        }
        const std::string pod = (*it)->pod();
        (*it)->reap();
        *it = std::make_unique<Replica>(bin, pod, rargs);
        cur = next;
      }
    }
    report("SIGKILL: kill -> new holder", kill_ms);
    report("SIGTERM: resigned event -> new holder", term_ms);
    report("SIGTERM: signal -> new holder", term_signal_ms);
  } catch (const std::exception& e) {
    std::cerr << "failover_bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
