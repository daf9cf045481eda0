// A rolling update N -> N+1 with a migration, the way a StatefulSet does it, while messages are
// written to the outbox the whole time:
//   - N+1 is this binary plus one expand migration (WACONN_EXTRA_MIGRATIONS_DIR, written here with
//     the next free version number), applied by N+1's `migrate` (the init container);
//   - the N pods keep running, stay Ready and keep their leader; an N pod whose sessions are cut
//     reconnects through the schema check and is accepted (the window: own schema and the next);
//   - the pods are replaced one at a time, highest ordinal first, each new one Ready before the
//     next goes; at the end the N+1 pods lead;
//   - rollback: N's `migrate` succeeds without changes and an N pod runs again;
//   - a later contract migration that needs N+1 makes an N pod refuse the database at its next
//     reconnect (NotReady, database_up 0), not only at start.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "store/migrator.h"
#include "store/outbox.h"
#include "support.h"

namespace wa::upgrade {
namespace {

using namespace std::chrono_literals;
using hatest::http_get;
using hatest::Replica;
using hatest::wait_for;

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// stdout of a command (exit status checked).
std::string run_out(const std::string& cmd) {
  INFO("command: " << cmd);
  FILE* f = popen(cmd.c_str(), "r");
  REQUIRE(f != nullptr);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, f) != nullptr) out += buf;
  const int rc = pclose(f);
  INFO("output: " << out);
  REQUIRE(rc == 0);
  return out;
}

bool ready(Replica& r) { return http_get(r.http_port(), "/ready").status == 200; }

std::string leader_of(const hatest::TestDb& db) {
  auto c = db.connect("who leads");
  auto r = c.exec("leader",
                  "SELECT coalesce(a.assigned_pod, '') FROM wa_accounts a WHERE business_id = 'acme'"
                  " AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted"
                  " AND l.objsubid = 1 AND ((l.classid::bigint << 32) | l.objid::bigint) = a.lock_key)");
  return r.rows() == 1 ? std::string(r.text(0, 0)) : std::string();
}

int terminate_sessions(const hatest::TestDb& db, const std::string& pod) {
  auto c = db.connect("cut a pod's sessions");
  return static_cast<int>(c.exec("terminate",
                                 "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                                 " WHERE datname = current_database() AND application_name LIKE $1",
                                 {fmt::format("waconnector/{}/%", pod)})
                              .i64(0, 0));
}

}  // namespace

TEST_CASE("rolling update N -> N+1 with an expand migration while messages flow - rollback - a contract beyond the "
          "window is refused at the next reconnect",
          "[pg][process][upgrade]") {
  hatest::TestDb db;
  db.add_account("acme");
  const int n = store::latest_known_version();  // read before the extra directory is set
  const std::string bin = hatest::bin_dir() + "/waconnector";
  const std::string dir = fmt::format("/tmp/waconn-upgrade-{}", getpid());
  std::filesystem::create_directories(dir);
  {
    std::ofstream f(fmt::format("{}/{:04d}_upgrade_drill.sql", dir, n + 1));
    f << "-- The next release's expand migration: a new table and a defaulted column.\n"
         "CREATE TABLE wa_upgrade_drill (business_id TEXT PRIMARY KEY REFERENCES wa_accounts (business_id)"
         " ON DELETE CASCADE, note TEXT NOT NULL);\n"
         "ALTER TABLE wa_outbox ADD COLUMN upgrade_drill_tag TEXT NOT NULL DEFAULT 'n';\n";
  }
  const std::vector<std::string> args{"--database-url", db.url(), "--business-id", "acme", "--poll-interval", "200ms"};
  std::vector<std::unique_ptr<Replica>> pods;
  for (int i = 0; i < 3; ++i) pods.push_back(std::make_unique<Replica>(fmt::format("w-{}", i), args));
  REQUIRE(wait_for([&] { return !leader_of(db).empty(); }, 20s));
  for (auto& p : pods) REQUIRE(wait_for([&] { return ready(*p); }, 10s));

  // Messages flow through the outbox the whole time.
  std::atomic<bool> stop{false};
  std::atomic<int> sent{0}, failed{0};
  std::string first_error;
  std::thread writer([&] {
    auto c = db.connect("outbox writer");
    while (!stop.load()) {
      try {
        store::EnqueueRequest req;
        req.business_id = "acme";
        req.recipient = "15550001111@s.whatsapp.net";
        req.text = fmt::format("message {}", sent.load());
        store::enqueue(c, req);
        ++sent;
      } catch (const std::exception& e) {
        if (failed++ == 0) first_error = e.what();
      }
      std::this_thread::sleep_for(20ms);
    }
  });

  // N+1's init container.
  const std::string next_env = "WACONN_EXTRA_MIGRATIONS_DIR=" + quote(dir);
  const auto migrated = run_out(fmt::format("{} {} migrate --database-url {}", next_env, quote(bin), quote(db.url())));
  CHECK(migrated.find(fmt::format("applied {:04d}_upgrade_drill", n + 1)) != std::string::npos);
  {
    auto c = db.connect("check");
    CHECK(store::current_schema_version(c) == n + 1);
  }
  // The N pods stay Ready and the leader keeps the account.
  const std::string leader_before = leader_of(db);
  for (int k = 0; k < 20; ++k) {
    for (auto& p : pods) CHECK(ready(*p));
    std::this_thread::sleep_for(100ms);
  }
  CHECK(leader_of(db) == leader_before);
  // An N pod that reconnects passes the schema check (N+1 is inside its window).
  const std::string standby = leader_before == "w-1" ? "w-2" : "w-1";
  CHECK(terminate_sessions(db, standby) > 0);
  auto& sb = *pods[static_cast<std::size_t>(standby.back() - '0')];
  CHECK(wait_for([&] { return ready(sb); }, 15s));
  CHECK(sb.log().find("newer than this binary") == std::string::npos);

  // The rollout: highest ordinal first, each new pod Ready before the next old one goes.
  setenv("WACONN_EXTRA_MIGRATIONS_DIR", dir.c_str(), 1);  // inherited by the N+1 pods only
  for (int i = 2; i >= 0; --i) {
    auto& old = pods[static_cast<std::size_t>(i)];
    old->signal(SIGTERM);
    REQUIRE(old->wait_exit(15s) == 0);
    old = std::make_unique<Replica>(fmt::format("w-{}", i), args);
    REQUIRE(wait_for([&] { return ready(*old); }, 20s));
    CHECK(old->log().find("extra_migration_loaded") != std::string::npos);
  }
  unsetenv("WACONN_EXTRA_MIGRATIONS_DIR");
  REQUIRE(wait_for([&] { return !leader_of(db).empty(); }, 20s));
  const std::string leader_after = leader_of(db);
  INFO("leader after the rollout: " << leader_after);
  // Every pod is N+1 now, and the leader is one of them (its log shows the N+1 schema).
  bool leader_is_new = false;
  for (auto& p : pods)
    if (p->pod() == leader_after) leader_is_new = p->log().find("extra_migration_loaded") != std::string::npos;
  CHECK(leader_is_new);
  stop = true;
  writer.join();
  INFO("first outbox write error: " << first_error);
  CHECK(failed.load() == 0);
  CHECK(sent.load() > 20);
  {
    auto c = db.connect("count");
    CHECK(c.exec("outbox rows", "SELECT count(*) FROM wa_outbox WHERE business_id = 'acme'").i64(0, 0) == sent.load());
  }
  WARN(fmt::format("rolling update N={} -> N+1={}: {} outbox rows written during it, {} failed; leader {} -> {}", n,
                   n + 1, sent.load(), failed.load(), leader_before, leader_after));

  // Rollback: N's init container succeeds and changes nothing; an N pod runs beside the N+1 ones.
  const auto back = run_out(fmt::format("{} migrate --database-url {}", quote(bin), quote(db.url())));
  CHECK(back.find("inside its compatibility window; nothing to do") != std::string::npos);
  Replica old_again("w-old", args);
  CHECK(wait_for([&] { return ready(old_again); }, 20s));

  // A contract migration that needs N+1: the running N pod is refused at its next reconnect.
  {
    auto c = db.connect("contract");
    c.exec("a contract migration", "INSERT INTO wa_schema_migrations (version, name, checksum, requires_binary)"
                                   " VALUES ($1::int, 'drop_what_n_used', 'x', $2::int)",
           {n + 2, n + 1});
  }
  CHECK(ready(old_again));  // nothing re-read yet: the check runs on (re)connect
  CHECK(terminate_sessions(db, "w-old") > 0);
  CHECK(wait_for([&] { return http_get(old_again.http_port(), "/ready").status == 503; }, 15s));
  CHECK(wait_for([&] { return old_again.log().find("outside its compatibility window") != std::string::npos; }, 15s));
  INFO("/ready: " << http_get(old_again.http_port(), "/ready").body);
  CHECK(wait_for([&] { return http_get(old_again.http_port(), "/metrics").body.find("\nwaconnector_database_up 0\n") !=
                              std::string::npos; },
                 10s));
  for (auto& p : pods) CHECK(ready(*p));  // N+1 pods: their own schema is inside the window
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace wa::upgrade
