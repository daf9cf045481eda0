// Three real `waconnector run` processes against a real PostgreSQL, observed through ha_events,
// pg_locks and the HTTP surface.
#include <signal.h>

#include <algorithm>
#include <thread>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "store/accounts.h"
#include "support.h"

using namespace std::chrono_literals;
using wa::hatest::Replica;
using wa::hatest::TestDb;
using wa::hatest::wait_for;

namespace {

std::vector<std::string> args(const TestDb& db, std::vector<std::string> extra = {}) {
  std::vector<std::string> a{"--database-url", db.url(), "--business-id", "acme"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

std::int64_t holders(const TestDb& db) {
  auto c = db.connect("count lock holders");
  auto r =
      c.exec("count lock holders",
             "SELECT count(*) FROM pg_locks l JOIN wa_accounts a ON a.lock_key = "
             "((l.classid::bigint << 32) | l.objid::bigint) WHERE l.locktype = 'advisory' AND l.objsubid = 1 "
             "AND l.granted AND a.business_id = 'acme'");
  return r.i64(0, 0);
}

Replica* by_pod(std::vector<std::unique_ptr<Replica>>& rs, const std::string& pod) {
  for (auto& r : rs)
    if (r->pod() == pod) return r.get();
  return nullptr;
}

// Three replicas competing for "acme", standbys polling every `poll`; returns them once one leads
// (its gain event in `first`) and `settled_sql`, a count over pg_stat_activity, reads `settled`.
std::vector<std::unique_ptr<Replica>> start_three(TestDb& db, const char* poll, const char* settled_what,
                                                  const char* settled_sql, std::int64_t settled,
                                                  std::optional<wa::store::HaEvent>& first) {
  std::vector<std::unique_ptr<Replica>> rs;
  for (int i = 0; i < 3; ++i)
    rs.push_back(std::make_unique<Replica>(fmt::format("pod-{}", i), args(db, {"--poll-interval", poll})));
  REQUIRE(wait_for(
      [&] { return (first = wa::hatest::last_gain(wa::hatest::events(db, "acme"))).has_value(); }, 20s));
  auto c = db.connect();
  REQUIRE(wait_for([&] { return c.exec(settled_what, settled_sql).i64(0, 0) == settled; }, 10s));
  return rs;
}

}  // namespace

TEST_CASE("three replicas: one leader - SIGKILL it and another leads with epoch+1 within 1 s",
          "[ha][pg][process]") {
  TestDb db;
  db.add_account("acme");
  std::vector<std::unique_ptr<Replica>> rs;
  for (int i = 0; i < 3; ++i) rs.push_back(std::make_unique<Replica>(fmt::format("pod-{}", i), args(db)));
  std::optional<wa::store::HaEvent> first;
  REQUIRE(wait_for(
      [&] { return (first = wa::hatest::last_gain(wa::hatest::events(db, "acme"))).has_value(); }, 20s));
  // Exactly one leader, and it stays the only one across several heartbeats and standby polls.
  for (int i = 0; i < 5; ++i) {
    CHECK(holders(db) == 1);
    const auto status = wa::hatest::http_get(by_pod(rs, first->pod)->http_port(), "/status");
    CHECK(status.status == 200);
    CHECK(status.body.find("\"role\":\"active\"") != std::string::npos);
    CHECK(status.body.find("\"wa_url\":\"none\"") != std::string::npos);
    std::this_thread::sleep_for(300ms);  // observation window, not synchronisation
  }
  int gains = 0;
  for (auto& e : wa::hatest::events(db, "acme"))
    gains += (e.kind == wa::store::EventKind::acquired || e.kind == wa::store::EventKind::takeover);
  CHECK(gains == 1);
  for (auto& r : rs) {
    if (r->pod() == first->pod) continue;
    const auto s = wa::hatest::http_get(r->http_port(), "/status");
    CHECK(s.body.find("\"role\":\"standby\"") != std::string::npos);
    CHECK(wa::hatest::http_get(r->http_port(), "/ready").status == 200);  // readiness is not leader-only
  }

  Replica* leader = by_pod(rs, first->pod);
  const auto t_kill = std::chrono::system_clock::now();
  leader->signal(SIGKILL);
  std::optional<wa::store::HaEvent> next;
  REQUIRE(wait_for(
      [&] {
        next = wa::hatest::last_gain(wa::hatest::events(db, "acme"));
        return next && next->id != first->id;
      },
      10s));
  CHECK(next->pod != first->pod);
  CHECK(next->epoch == *first->epoch + 1);
  CHECK(next->kind == wa::store::EventKind::takeover);
  const auto ms =
      next->at_ms - std::chrono::duration_cast<std::chrono::milliseconds>(t_kill.time_since_epoch()).count();
  INFO("SIGKILL -> takeover event after " << ms << " ms");
  CHECK(ms < 1000);
  CHECK(holders(db) == 1);
}

TEST_CASE("SIGTERM: the leader resigns - exits 0 - and a standby wins through NOTIFY in < 200 ms",
          "[ha][pg][process]") {
  TestDb db;
  db.add_account("acme");
  // Standbys poll only every 5 s: a takeover within 200 ms can only come from the NOTIFY.
  std::optional<wa::store::HaEvent> first;
  // Both standbys LISTEN and have polled once their lock session's last statement is the try-lock.
  auto rs =
      start_three(db, "5s", "count polling standbys",
                  "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'waconnector/%/lock'"
                  " AND query LIKE '%pg_try_advisory_lock%'",
                  2, first);
  Replica* leader = by_pod(rs, first->pod);
  leader->signal(SIGTERM);
  const auto code = leader->wait_exit(12s);
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  std::optional<wa::store::HaEvent> next;
  REQUIRE(wait_for(
      [&] {
        next = wa::hatest::last_gain(wa::hatest::events(db, "acme"));
        return next && next->id != first->id;
      },
      10s));
  std::optional<wa::store::HaEvent> resigned;
  for (auto& e : wa::hatest::events(db, "acme"))
    if (e.kind == wa::store::EventKind::resigned && e.pod == first->pod) resigned = e;
  REQUIRE(resigned);
  CHECK(next->epoch == *first->epoch + 1);
  const auto ms = next->at_ms - resigned->at_ms;
  INFO("resigned -> acquired " << ms << " ms");
  CHECK(ms >= 0);
  CHECK(ms < 200);
}

TEST_CASE("block mode replicas: SIGKILL the leader and the blocked waiter takes over", "[ha][pg][process]") {
  TestDb db;
  db.add_account("acme");
  std::vector<std::unique_ptr<Replica>> rs;
  for (int i = 0; i < 3; ++i)
    rs.push_back(std::make_unique<Replica>(fmt::format("pod-{}", i),
                                           args(db, {"--standby-wait", "block", "--poll-interval", "5s"})));
  std::optional<wa::store::HaEvent> first;
  REQUIRE(wait_for(
      [&] { return (first = wa::hatest::last_gain(wa::hatest::events(db, "acme"))).has_value(); }, 20s));
  auto c = db.connect();
  REQUIRE(wait_for(
      [&] {
        return c.exec("count waiters",
                      "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
                   .i64(0, 0) == 2;
      },
      10s));
  const auto t_kill = std::chrono::system_clock::now();
  by_pod(rs, first->pod)->signal(SIGKILL);
  std::optional<wa::store::HaEvent> next;
  REQUIRE(wait_for(
      [&] {
        next = wa::hatest::last_gain(wa::hatest::events(db, "acme"));
        return next && next->id != first->id;
      },
      10s));
  CHECK(next->epoch == *first->epoch + 1);
  const auto ms =
      next->at_ms - std::chrono::duration_cast<std::chrono::milliseconds>(t_kill.time_since_epoch()).count();
  INFO("block mode: SIGKILL -> takeover event after " << ms << " ms");
  // Without any polling (5 s interval), only the blocked waiter can explain a fast takeover.
  CHECK(ms < 1000);
  CHECK(holders(db) == 1);
  // A standby blocked in pg_advisory_lock shuts down promptly: its wait is cancelled.
  for (auto& r : rs) {
    if (r->pod() == first->pod || r->pod() == next->pod) continue;
    REQUIRE(wait_for(
        [&] {
          return c.exec("count waiters",
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
                     .i64(0, 0) == 1;
        },
        10s));
    const auto t0 = std::chrono::steady_clock::now();
    r->signal(SIGTERM);
    const auto code = r->wait_exit(5s);
    REQUIRE(code.has_value());
    CHECK(*code == 0);
    INFO("blocked standby exited " << std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now() - t0)
                                          .count()
                                   << " ms after SIGTERM");
    CHECK(std::chrono::steady_clock::now() - t0 < 3s);
    CHECK(c.exec("count waiters", "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
              .i64(0, 0) == 0);
  }
}

TEST_CASE("bad configuration exits 2 with one line naming the setting", "[ha][process]") {
  struct Case {
    std::vector<std::string> args;
    std::string names;
  };
  const std::vector<Case> cases{
      {{"--database-url", "not a conninfo"}, "--database-url"},
      {{"--database-url", "host=/tmp", "--fence-after", "20s"}, "--fence-after"},
      {{"--database-url", "host=/tmp", "--standby-wait", "sometimes"}, "--standby-wait"},
      {{"--database-url", "host=/tmp", "--lock-keys", "md5"}, "--lock-keys"},
      {{"--database-url", "host=/tmp", "--poll-interval", "soon"}, "--poll-interval"},
      {{"--database-url", "host=/tmp", "--business-id", "bad id!"}, "--business-id"},
  };
  for (const auto& c : cases) {
    Replica r("bad", c.args);
    const auto code = r.wait_exit(10s);
    REQUIRE(code.has_value());
    CHECK(*code == 2);
    const auto log = r.log();
    INFO(log);
    CHECK(log.find(c.names) != std::string::npos);
    CHECK(std::count(log.begin(), log.end(), '\n') == 1);
  }
}

TEST_CASE("database down at start: retries - /health 200 - /ready 503 - SIGTERM exits 0",
          "[ha][pg][process]") {
  TestDb db;
  db.add_account("acme");
  // Nothing listens on this port: connection refused, retried with backoff.
  Replica down("down",
               {"--database-url", "host=127.0.0.1 port=1 user=postgres dbname=postgres connect_timeout=1",
                "--business-id", "acme"});
  const int port = down.http_port();
  REQUIRE(port > 0);
  REQUIRE(wait_for([&] { return down.log().find("database_unavailable") != std::string::npos; }, 10s));
  CHECK(wa::hatest::http_get(port, "/health").status == 200);
  const auto ready = wa::hatest::http_get(port, "/ready");
  CHECK(ready.status == 503);
  CHECK(ready.body.find("database unreachable") != std::string::npos);
  CHECK(down.running());
  down.signal(SIGTERM);
  const auto code = down.wait_exit(12s);
  REQUIRE(code.has_value());
  CHECK(*code == 0);
}

TEST_CASE("a --lock-keys mode other than the cluster's stored one is refused with exit 2",
          "[ha][pg][process]") {
  TestDb db;
  db.add_account("acme");
  {
    auto c = db.connect("store the cluster's lock-keys mode");
    wa::store::require_lock_key_mode(c, wa::store::LockKeyMode::hashtext);
  }
  Replica r("mixed", {"--database-url", db.url(), "--lock-keys", "hashtextextended"});
  const auto code = r.wait_exit(20s);
  REQUIRE(code.has_value());
  CHECK(*code == 2);
  const auto log = r.log();
  INFO(log);
  CHECK(log.find("waconnector: --lock-keys") != std::string::npos);
  // It never competed: nothing was acquired.
  CHECK_FALSE(wa::hatest::last_gain(wa::hatest::events(db, "acme")).has_value());
}

TEST_CASE("shutdown deadline and second signal: a stuck resign still ends the process", "[ha][pg][process]") {
  TestDb db;
  db.add_account("acme");
  auto c = db.connect();
  const int deadline_case = GENERATE(0, 1);
  Replica r("stuck", args(db, {"--shutdown-timeout", deadline_case ? "1s" : "30s"}));
  REQUIRE(wait_for([&] { return wa::hatest::last_gain(wa::hatest::events(db, "acme")).has_value(); }, 20s));
  const auto pid =
      c.exec("the leader's lock backend",
             "SELECT pid FROM pg_stat_activity WHERE application_name = 'waconnector/stuck/lock'")
          .i64(0, 0);
  // A frozen lock backend never answers the unlock: the graceful path cannot finish on its own.
  REQUIRE(kill(static_cast<pid_t>(pid), SIGSTOP) == 0);
  struct Resume {
    pid_t pid;
    ~Resume() { kill(pid, SIGCONT); }
  } resume{static_cast<pid_t>(pid)};
  const auto t0 = std::chrono::steady_clock::now();
  r.signal(SIGTERM);
  if (deadline_case) {
    const auto code = r.wait_exit(10s);
    REQUIRE(code.has_value());
    CHECK(*code == 1);
    CHECK(r.log().find("shutdown_deadline_exceeded") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - t0 >= 1s);
  } else {
    REQUIRE(wait_for([&] { return r.log().find("shutdown_requested") != std::string::npos; }, 10s));
    const auto t1 = std::chrono::steady_clock::now();
    r.signal(SIGTERM);
    const auto code = r.wait_exit(10s);
    REQUIRE(code.has_value());
    CHECK(*code == 1);
    CHECK(r.log().find("shutdown_forced") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - t1 < 1s);
  }
}

TEST_CASE(
    "SIGSTOP the leader: the database releases its lock after idle_session_timeout - on SIGCONT it fences "
    "first",
    "[ha][pg][process]") {
  // A stopped process's kernel still answers TCP keepalives (and a unix socket has none), so only
  // idle_session_timeout (= fence_after + margin) frees the lock of a paused leader.
  TestDb db;
  db.add_account("acme");
  std::vector<std::unique_ptr<Replica>> rs;
  for (int i = 0; i < 2; ++i) rs.push_back(std::make_unique<Replica>(fmt::format("pod-{}", i), args(db)));
  std::optional<wa::store::HaEvent> first;
  REQUIRE(wait_for(
      [&] { return (first = wa::hatest::last_gain(wa::hatest::events(db, "acme"))).has_value(); }, 20s));
  Replica* leader = by_pod(rs, first->pod);
  REQUIRE(leader != nullptr);
  const auto stopped_at = std::chrono::steady_clock::now();
  leader->signal(SIGSTOP);
  std::optional<wa::store::HaEvent> next;
  REQUIRE(wait_for(
      [&] {
        next = wa::hatest::last_gain(wa::hatest::events(db, "acme"));
        return next && next->id != first->id;
      },
      30s));
  const auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - stopped_at);
  WARN("SIGSTOP -> takeover: " << took.count()
                               << " ms (fence_after 3 s + margin 2 s, from the last heartbeat)");
  CHECK(next->pod != first->pod);
  // Never before the paused leader's fence deadline + margin (its last heartbeat was < 1 s before
  // the stop): 3 s + 2 s - 1 s.
  CHECK(took >= 4s);
  CHECK(took < 15s);
  leader->signal(SIGCONT);
  // On resume it fences (its lease deadline passed long ago) and becomes a standby.
  REQUIRE(wait_for([&] { return leader->log().find("\"to\":\"fenced\"") != std::string::npos; }, 10s));
  CHECK(holders(db) == 1);
}

TEST_CASE("database unavailable: the fenced event is queued and written once the database is back",
          "[ha][pg][process]") {
  TestDb db;
  db.add_account("acme");
  std::string dbname;
  {
    auto c = db.connect("name");
    dbname = std::string(c.exec("name", "SELECT current_database()").text(0, 0));
  }
  Replica r("pod-0", args(db));
  REQUIRE(wait_for([&] { return wa::hatest::last_gain(wa::hatest::events(db, "acme")).has_value(); }, 20s));
  // Cut the pod off: no new sessions to its database, and every existing one terminated (its
  // lock session too, so it fences while its store session cannot come back).
  auto admin = wa::pg::Connection::open(wa::hatest::base_url(), "admin");
  admin.exec_simple("refuse connections",
                    fmt::format("ALTER DATABASE \"{}\" ALLOW_CONNECTIONS false", dbname).c_str());
  // The store sessions go first and the lock/liveness sessions after: terminated in the other
  // order, the pod fences at once and records the event on a store session that is still alive
  // (seen in CI). Terminate on every poll, too, so a session that slipped past the
  // ALLOW_CONNECTIONS check cannot record it either.
  const auto terminate_all = [&] {
    for (const char* which : {"NOT", ""})
      admin.exec("terminate the pod's sessions",
                 fmt::format("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND "
                             "pid <> pg_backend_pid() AND {} (application_name LIKE '%/lock%' OR "
                             "application_name LIKE '%/live' OR application_name LIKE '%/wait')",
                             which)
                     .c_str(),
                 {dbname});
  };
  const bool queued = wait_for(
      [&] {
        terminate_all();
        return r.log().find("\"event\":\"ha_event_queued\"") != std::string::npos;
      },
      20s);
  admin.exec_simple("accept connections",
                    fmt::format("ALTER DATABASE \"{}\" ALLOW_CONNECTIONS true", dbname).c_str());
  INFO("replica log:\n" << r.log());
  REQUIRE(queued);
  std::optional<wa::store::HaEvent> late;
  REQUIRE(wait_for(
      [&] {
        for (const auto& e : wa::hatest::events(db, "acme"))
          if (e.kind == wa::store::EventKind::fenced && e.details.find("recorded late") != std::string::npos)
            late = e;
        return late.has_value();
      },
      30s));
  CHECK(late->pod == "pod-0");
  // And the pod leads again afterwards.
  REQUIRE(wait_for(
      [&] {
        const auto ev = wa::hatest::events(db, "acme");
        return !ev.empty() && (ev.back().kind == wa::store::EventKind::acquired ||
                               ev.back().kind == wa::store::EventKind::takeover);
      },
      30s));
}

TEST_CASE("poll mode: SIGKILL is seen by the peer waiters and taken over at once, not at the next poll",
          "[ha][pg][process]") {
  TestDb db;
  db.add_account("acme");
  // Standbys poll only every 30 s: a takeover within 500 ms of the kill can only come from the
  // waiters on the dead pod's peer-watch lock (a normal poll lands there ~2 % of the time).
  std::optional<wa::store::HaEvent> first;
  // Every pod waits on both others: 3 x 2 peer sessions, named for what they are.
  auto rs =
      start_three(db, "30s", "peer waiters",
                  "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'waconnector/%/peer'"
                  " AND wait_event_type = 'Lock'",
                  6, first);
  Replica* leader = by_pod(rs, first->pod);
  const auto t_kill = std::chrono::system_clock::now();
  leader->signal(SIGKILL);
  std::optional<wa::store::HaEvent> next;
  REQUIRE(wait_for(
      [&] {
        next = wa::hatest::last_gain(wa::hatest::events(db, "acme"));
        return next && next->id != first->id;
      },
      40s));
  const auto ms =
      next->at_ms - std::chrono::duration_cast<std::chrono::milliseconds>(t_kill.time_since_epoch()).count();
  INFO("SIGKILL -> takeover event after " << ms << " ms");
  CHECK(ms < 500);
  CHECK(next->pod != first->pod);
  CHECK(by_pod(rs, next->pod)->log().find("\"peer_gone\"") != std::string::npos);
  // The survivors re-read the live set: the dead pod's waiters are gone, one each remain.
  auto c = db.connect();
  REQUIRE(wait_for(
      [&] {
        return c.exec(
                    "peer waiters",
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'waconnector/%/peer'")
                   .i64(0, 0) == 2;
      },
      10s));
  CHECK(holders(db) == 1);
}
