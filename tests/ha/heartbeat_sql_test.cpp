// The heartbeat's pg_locks decoding against the real server, including negative keys (hashtext
// yields them): a key this session holds is reported, one it released is not.
#include <catch2/catch.hpp>

#include <limits>

#include "ha/heartbeat.h"
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
