#include <catch2/catch.hpp>

#include "store/ha_events.h"
#include "store/members.h"
#include "tests/store/test_db.h"

using namespace wa;

TEST_CASE("ha_events: recorded in order, filtered by account and cursor, append-only", "[store][pg]") {
  test::TestDatabase db;
  auto c = db.connect();
  const auto id1 = store::record_event(c, "acme", "pod-a", store::EventKind::acquired, 1, std::nullopt);
  const auto id2 = store::record_event(c, "acme", "pod-a", store::EventKind::fenced, 1, 5012, "heartbeat deadline");
  const auto id3 = store::record_event(c, "bolt", "pod-b", store::EventKind::takeover, 7, 480);
  CHECK(id1 < id2);
  CHECK(id2 < id3);

  auto all = store::list_events(c);
  REQUIRE(all.size() == 3);
  CHECK(all[0].kind == store::EventKind::acquired);
  CHECK(all[0].epoch == std::optional<std::int64_t>(1));
  CHECK_FALSE(all[0].duration_ms);
  CHECK(all[1].kind == store::EventKind::fenced);
  CHECK(all[1].duration_ms == std::optional<std::int64_t>(5012));
  CHECK(all[1].details == "heartbeat deadline");
  CHECK(all[0].at_ms <= all[1].at_ms);
  CHECK(all[0].at_ms > 0);

  auto acme = store::list_events(c, std::string("acme"));
  CHECK(acme.size() == 2);
  auto after = store::list_events(c, std::nullopt, id2);
  REQUIRE(after.size() == 1);
  CHECK(after[0].business_id == "bolt");
  CHECK(after[0].pod == "pod-b");
  CHECK(store::list_events(c, std::nullopt, 0, 1).size() == 1);

  CHECK_THROWS_WITH(c.exec("tamper", "UPDATE ha_events SET pod = 'x'"), Catch::Contains("append-only"));
  CHECK_THROWS_WITH(c.exec("tamper", "DELETE FROM ha_events"), Catch::Contains("append-only"));
  CHECK_THROWS_AS(c.exec("bad kind", "INSERT INTO ha_events (business_id, pod, kind) VALUES ('a', 'p', 'won')"),
                  pg::Error);
  for (auto k : {store::EventKind::acquired, store::EventKind::resigned, store::EventKind::fenced,
                 store::EventKind::lost, store::EventKind::takeover})
    CHECK(store::parse_event_kind(store::to_string(k)) == k);
  CHECK_FALSE(store::parse_event_kind("won"));
}

TEST_CASE("ha_members: register, heartbeat, list alive, remove", "[store][pg]") {
  test::TestDatabase db;
  auto c = db.connect();
  store::register_member(c, "pod-0", "0.1.0", 111);
  store::register_member(c, "pod-1", "0.1.0", 222);
  auto before = store::list_members(c);
  REQUIRE(before.size() == 2);
  CHECK(before[0].pod == "pod-0");
  CHECK(before[0].backend_pid == 111);
  CHECK(before[0].started_at_ms == before[0].heartbeat_at_ms);

  store::heartbeat_member(c, "pod-0", "0.1.1", 3, 333);
  auto m = store::list_members(c);
  CHECK(m[0].version == "0.1.1");
  CHECK(m[0].leading == 3);
  CHECK(m[0].backend_pid == 333);
  CHECK(m[0].started_at_ms == before[0].started_at_ms);
  CHECK(m[0].heartbeat_at_ms >= before[0].heartbeat_at_ms);

  // pod-1's heartbeat is made old; only pod-0 counts as alive within 10 s.
  c.exec_simple("age a heartbeat", "UPDATE ha_members SET heartbeat_at = now() - interval '1 minute' WHERE pod = 'pod-1'");
  auto alive = store::list_members(c, std::chrono::seconds(10));
  REQUIRE(alive.size() == 1);
  CHECK(alive[0].pod == "pod-0");

  store::remove_member(c, "pod-0");
  CHECK(store::list_members(c).size() == 1);
  // A heartbeat from an unknown pod registers it.
  store::heartbeat_member(c, "pod-2", "0.1.0");
  CHECK(store::list_members(c).size() == 2);
}
