// Database faults with a live WhatsApp session, on a PostgreSQL cluster of the test's own (it is
// stopped and restarted): wasim, three replicas and a paired account.
//  * restart and a ~20 s outage: every session (registry, lock, liveness/LISTEN, store) comes back
//    with fast first retries, so the account is logged in again within about a second of the
//    database accepting connections, however long it was away;
//  * a read-only database (ALTER DATABASE ... SET default_transaction_read_only = on, sessions
//    terminated, later RESET): lock sessions are not reopened in a tight loop, /ready says the pod
//    cannot write, sessions opened during the window are replaced once they fail a write, and the
//    account is led and logged in again after the RESET with a truthful registry row.
// Times are printed; the asserted bounds are generous (shared CI machines).
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "cluster.h"
#include "own_postgres.h"

namespace wa::e2e {
namespace {

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t newest_login_ms(const std::vector<WasimConnection>& list) {
  std::int64_t t = 0;
  for (const auto& c : list)
    if (c.logged_in_ms) t = std::max(t, *c.logged_in_ms);
  return t;
}

std::size_t count(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

// Stops PostgreSQL for `outage`, starts it, and returns ms from "accepting connections" (the
// start command returned) to the next login at wasim; -1 if none within 60 s.
std::int64_t outage_round(OwnPostgres& pg, Cluster& c, const std::string& jid,
                          std::chrono::milliseconds outage, const char* label) {
  pg.stop();
  const auto stopped_at = unix_ms();
  std::this_thread::sleep_for(outage);
  const auto start_began = unix_ms();
  pg.start();
  const auto accepting = unix_ms();
  std::int64_t login = 0;
  const bool back = hatest::wait_for(
      [&] {
        login = newest_login_ms(c.connections(jid));
        return login > stopped_at && c.logged_in_pod() >= 0;
      },
      60s);
  const auto ms = back ? login - accepting : -1;
  std::printf(
      "db_faults %s: outage_ms=%lld start_command_ms=%lld accepting_to_logged_in_ms=%lld overlap_ms=%lld\n",
      label, static_cast<long long>(start_began - stopped_at),
      static_cast<long long>(accepting - start_began), static_cast<long long>(ms),
      static_cast<long long>(overlap_ms(c.connections(jid))));
  std::fflush(stdout);
  return ms;
}

}  // namespace

TEST_CASE("database restart and a 20 s outage: logged in again about a second after the database accepts",
          "[pg][e2e][dbfaults]") {
  OwnPostgres pg("dbfaults");
  REQUIRE(setenv("WACONN_TEST_DATABASE_URL", pg.url().c_str(), 1) == 0);
  Cluster c;
  const auto jid = c.pair("+15550009101");

  // A restart (stopped and started at once).
  const auto restart_ms = outage_round(pg, c, jid, 0ms, "restart");
  REQUIRE(restart_ms >= 0);
  // A long outage: the retries must not have backed off to many seconds meanwhile.
  const char* env = std::getenv("WACONN_DB_OUTAGE_SECONDS");
  const auto outage = std::chrono::seconds(env ? std::atoi(env) : 20);
  const auto outage_ms = outage_round(pg, c, jid, outage, "outage");
  REQUIRE(outage_ms >= 0);
  // Goal 1 s (docs/architecture.md timing budget); generous for a loaded shared machine. Before
  // the fast retries this was 10.2 s after a 20 s outage.
  CHECK(restart_ms < 3000);
  CHECK(outage_ms < 3000);
  CHECK(overlap_ms(c.connections(jid)) == 0);
  // The registry row follows the login a moment later (the pod reports logged_in, then writes it).
  std::string status;
  hatest::wait_for(
      [&] {
        status = c.account().status;
        return status == "connected";
      },
      10s);
  CHECK(status == "connected");
}

TEST_CASE("read-only database: no reconnect storm, /ready says so, and after RESET the account is led again",
          "[pg][e2e][dbfaults]") {
  OwnPostgres pg("dbfaults");
  REQUIRE(setenv("WACONN_TEST_DATABASE_URL", pg.url().c_str(), 1) == 0);
  Cluster c;
  const auto jid = c.pair("+15550009102");
  auto admin = c.db().connect("admin");
  const auto dbname = std::string(admin.exec("db", "SELECT current_database()").text(0, 0));
  auto terminate_pods = [&] {
    admin.exec("terminate the pods' sessions",
               "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
               " WHERE datname = current_database() AND pid <> pg_backend_pid()");
  };
  admin.exec_simple(
      "read-only",
      fmt::format("ALTER DATABASE \"{}\" SET default_transaction_read_only = on", dbname).c_str());
  std::vector<std::size_t> opens_before;
  for (auto& p : c.pods()) opens_before.push_back(count(p->log(), "\"lock_session_open\""));
  const auto cut_at = unix_ms();
  terminate_pods();
  // Every pod's lock session is reopened read-only and its begin_lease refused: backoff, not a loop.
  const auto window = 15s;
  bool not_ready_seen = false;
  const auto until = std::chrono::steady_clock::now() + window;
  while (std::chrono::steady_clock::now() < until) {
    for (auto& p : c.pods()) {
      const auto r = hatest::http_get(p->http_port(), "/ready");
      if (r.status == 503 && r.body.find("read-only") != std::string::npos) not_ready_seen = true;
    }
    std::this_thread::sleep_for(200ms);
  }
  std::size_t max_opens = 0;
  for (std::size_t i = 0; i < c.pods().size(); ++i)
    max_opens = std::max(max_opens, count(c.pods()[i]->log(), "\"lock_session_open\"") - opens_before[i]);
  // Nobody may be logged in while nobody can write its lease.
  const int during = c.logged_in_pod();
  std::printf(
      "db_faults read-only: window_ms=%lld lock_sessions_opened_max_per_pod=%zu not_ready_seen=%d "
      "logged_in_pod_during=%d\n",
      static_cast<long long>(unix_ms() - cut_at), max_opens, not_ready_seen ? 1 : 0, during);
  std::fflush(stdout);
  CHECK(max_opens <= 12);  // 46 in 45 s before the backoff; 5 s cap now
  CHECK(not_ready_seen);
  CHECK(during < 0);
  // The registry is truthful: nobody claims a live connection (the fenced leader could not write
  // its 'disconnected' yet; the row is either that or what it was, never a new 'connected').
  admin.exec_simple("reset",
                    fmt::format("ALTER DATABASE \"{}\" RESET default_transaction_read_only", dbname).c_str());
  const auto reset_at = unix_ms();
  // Sessions opened during the window are still read-only: they are replaced at their first
  // refused write, and the account is led and logged in again.
  std::int64_t login = 0;
  const bool back = hatest::wait_for(
      [&] {
        login = newest_login_ms(c.connections(jid));
        return login > reset_at && c.logged_in_pod() >= 0;
      },
      60s);
  std::printf("db_faults read-only: reset_to_logged_in_ms=%lld\n",
              static_cast<long long>(back ? login - reset_at : -1));
  std::fflush(stdout);
  REQUIRE(back);
  CHECK(login - reset_at < 15000);
  // The leader's member heartbeat and the registry row are written again. Balancing may still hand
  // the account to its preferred pod right after the RESET (no pod logged in for a moment), so the
  // leader and its registry row are read together until they agree.
  std::string leader;
  REQUIRE(hatest::wait_for(
      [&] {
        const int i = c.logged_in_pod();
        if (i < 0) return false;
        leader = c.pods()[static_cast<std::size_t>(i)]->pod();
        const auto a = c.account();
        return a.status == "connected" && a.assigned_pod == leader;
      },
      20s));
  REQUIRE(hatest::wait_for(
      [&] {
        auto r = admin.exec(
            "member beat",
            "SELECT count(*) FROM ha_members WHERE pod = $1 AND heartbeat_at > now() - interval '10 s'",
            {leader});
        return r.i64(0, 0) == 1;
      },
      20s));
  // The fence of the lease that was cut is in the history (written late, not lost).
  std::string kinds;
  const bool fenced_recorded = hatest::wait_for(
      [&] {
        kinds.clear();
        for (const auto& e : hatest::events(c.db(), Cluster::kAccount)) {
          kinds += fmt::format("{}:{}:{} ", e.pod, store::to_string(e.kind), e.epoch.value_or(-1));
          if (e.kind == store::EventKind::fenced) return true;
        }
        return false;
      },
      20s);
  std::printf("db_faults read-only: ha_events=[%s]\n", kinds.c_str());
  std::fflush(stdout);
  CHECK(fenced_recorded);
  CHECK(overlap_ms(c.connections(jid)) == 0);
}

}  // namespace wa::e2e
