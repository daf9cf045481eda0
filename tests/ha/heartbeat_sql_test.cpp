// The heartbeat's pg_locks decoding against the real server, including negative keys (hashtext
// yields them): a key this session holds is reported, one it released is not.
#include <catch2/catch.hpp>

#include <limits>

#include "ha/heartbeat.h"
#include "store/accounts.h"
#include "store/advisory_lock.h"
#include "support.h"

TEST_CASE("heartbeat query reports exactly the bigint advisory locks this session holds", "[ha][pg]") {
  wa::hatest::TestDb db;
  auto c = db.connect("heartbeat test");
  const std::vector<std::int64_t> keys{-137779396, 42, std::numeric_limits<std::int64_t>::min(),
                                       std::numeric_limits<std::int64_t>::max(), -1};
  for (auto k : keys) c.exec("lock", "SELECT pg_advisory_lock($1::bigint)", {k});
  // A two-int lock (the migrator's key space) must not be mistaken for a bigint key.
  c.exec("int4 lock", "SELECT pg_advisory_lock(1, 2)");
  auto held = wa::ha::held_keys(c.exec("heartbeat", wa::ha::kHeartbeatSql));
  CHECK(held == std::set<std::int64_t>(keys.begin(), keys.end()));
  c.exec("unlock", "SELECT pg_advisory_unlock($1::bigint)", {std::int64_t{-137779396}});
  held = wa::ha::held_keys(c.exec("heartbeat", wa::ha::kHeartbeatSql));
  CHECK(wa::ha::missing_keys(std::set<std::int64_t>(keys.begin(), keys.end()), held) ==
        std::vector<std::int64_t>{-137779396});
  // Another session's locks are not ours.
  auto other = db.connect("other session");
  CHECK(wa::ha::held_keys(other.exec("heartbeat", wa::ha::kHeartbeatSql)).empty());
}

TEST_CASE("heartbeat reports the backend's identity - a session is never another's", "[ha][pg]") {
  wa::hatest::TestDb db;
  auto c = db.connect("identity test");
  const auto opened = wa::store::session_identity(c.exec("identity", wa::store::kSessionIdentitySql));
  CHECK(opened.pid == c.backend_pid());
  CHECK_FALSE(opened.started.empty());
  CHECK(wa::store::session_identity(c.exec("heartbeat", wa::ha::kHeartbeatSql)) == opened);
  auto other = db.connect("other session");
  CHECK_FALSE(wa::store::session_identity(other.exec("heartbeat", wa::ha::kHeartbeatSql)) == opened);
}

TEST_CASE(
    "liveness lock: one holder per pod name - begin_lease says whether the previous holder's pod is alive",
    "[ha][pg]") {
  wa::hatest::TestDb db;
  db.add_account("acme");
  auto a = db.connect("pod-a liveness");
  auto b = db.connect("pod-b liveness");
  auto lock = db.connect("lock session");
  CHECK(wa::store::try_liveness_lock(a, "pod-a"));
  CHECK_FALSE(wa::store::try_liveness_lock(b, "pod-a"));  // a second process with the same name
  CHECK(wa::store::try_liveness_lock(b, "pod-b"));
  CHECK(wa::store::pod_alive(lock, "pod-a"));
  CHECK_FALSE(wa::store::pod_alive(lock, "pod-c"));

  auto first = wa::store::begin_lease(lock, "acme", "pod-a");
  CHECK_FALSE(first.previous_alive);  // nobody before
  auto second = wa::store::begin_lease(lock, "acme", "pod-b");
  CHECK(second.failover);
  CHECK(second.previous_alive);  // pod-a still holds its liveness lock
  a.close();                     // pod-a's process is gone
  REQUIRE(
      wa::hatest::wait_for([&] { return !wa::store::pod_alive(lock, "pod-a"); }, std::chrono::seconds(5)));
  auto third = wa::store::begin_lease(lock, "acme", "pod-a");
  CHECK(third.previous_alive);  // pod-b is alive
  b.close();
  REQUIRE(
      wa::hatest::wait_for([&] { return !wa::store::pod_alive(lock, "pod-b"); }, std::chrono::seconds(5)));
  auto fourth = wa::store::begin_lease(lock, "acme", "pod-c");
  CHECK(fourth.previous_pod == std::optional<std::string>("pod-a"));
  CHECK_FALSE(fourth.previous_alive);  // pod-a is dead
  CHECK(fourth.epoch == first.epoch + 3);

  // The asynchronous form only begins a lease while the account still has the key won.
  const auto st = wa::store::begin_lease_statement("acme", "pod-c", std::int64_t{12345});
  CHECK_FALSE(wa::store::lease_from(lock.exec("begin lease with a stale key", st.sql, st.params), "pod-c")
                  .has_value());
}
