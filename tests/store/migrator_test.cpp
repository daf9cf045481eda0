#include <set>
#include <thread>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "store/migrator.h"
#include "tests/store/test_db.h"

using namespace wa;

namespace {

std::int64_t count(pg::Connection& c, const char* sql) { return c.exec("test count", sql).i64(0, 0); }

}  // namespace

TEST_CASE("embedded migrations are numbered, named and checksummed", "[store]") {
  const auto& ms = store::embedded_migrations();
  REQUIRE(ms.size() >= 2);
  for (std::size_t i = 0; i < ms.size(); ++i) {
    // Increasing, not necessarily contiguous: numbers are reserved per work item and may land out
    // of order within a release (docs/operations.md, "Upgrades and rollback").
    CHECK(ms[i].version > (i == 0 ? 0 : ms[i - 1].version));
    CHECK(!ms[i].name.empty());
    CHECK(ms[i].sql.find(';') != std::string::npos);  // at least one statement
    CHECK(ms[i].checksum.size() == 64);
  }
  CHECK(store::latest_known_version() == ms.back().version);
}

TEST_CASE("migrate applies everything once, a rerun changes nothing", "[store][pg]") {
  test::TestDatabase db(false);
  auto c = db.connect();
  CHECK(store::current_schema_version(c) == 0);
  CHECK_THROWS_WITH(store::require_schema(c), Catch::Contains("run 'waconnector migrate'"));

  auto first = store::migrate(c);
  CHECK(first.applied.size() == store::embedded_migrations().size());
  CHECK(first.version == store::latest_known_version());
  CHECK(store::current_schema_version(c) == store::latest_known_version());
  CHECK_NOTHROW(store::require_schema(c));
  CHECK(count(c, "SELECT count(*) FROM wa_schema_migrations") ==
        static_cast<std::int64_t>(store::embedded_migrations().size()));
  CHECK(count(c, "SELECT count(*) FROM wa_schema_migrations WHERE applied_at IS NOT NULL AND length(checksum) = 64") ==
        static_cast<std::int64_t>(store::embedded_migrations().size()));

  auto second = store::migrate(c);
  CHECK(second.applied.empty());
  CHECK(second.version == store::latest_known_version());
  CHECK(count(c, "SELECT count(*) FROM wa_schema_migrations") ==
        static_cast<std::int64_t>(store::embedded_migrations().size()));
}

TEST_CASE("three concurrent migrates apply each migration exactly once", "[store][pg]") {
  test::TestDatabase db(false);
  std::vector<store::MigrateResult> results(3);
  std::vector<std::string> errors(3);
  {
    std::vector<std::thread> ts;
    for (int i = 0; i < 3; ++i)
      ts.emplace_back([&, i] {
        try {
          auto c = db.connect("concurrent migrate");
          results[static_cast<std::size_t>(i)] = store::migrate(c);
        } catch (const std::exception& e) {
          errors[static_cast<std::size_t>(i)] = e.what();
        }
      });
    for (auto& t : ts) t.join();
  }
  for (const auto& e : errors) CHECK(e.empty());
  std::multiset<int> applied;
  for (const auto& r : results) {
    CHECK(r.version == store::latest_known_version());
    for (const auto& m : r.applied) applied.insert(m.version);
  }
  std::multiset<int> expected;
  for (const auto& m : store::embedded_migrations()) expected.insert(m.version);
  CHECK(applied == expected);
  auto c = db.connect();
  CHECK(count(c, "SELECT count(*) FROM wa_schema_migrations") == static_cast<std::int64_t>(expected.size()));
}

TEST_CASE("compatibility window: the next release's expand migration is accepted, a contract beyond it refused",
          "[store][pg]") {
  test::TestDatabase db;
  auto c = db.connect();
  const int latest = store::latest_known_version();
  const int next = latest + 1;
  // The next release added a table (expand): this binary keeps running, and its migrate step (a
  // rollback's init container) succeeds without touching anything.
  c.exec("the next release's expand migration",
         "INSERT INTO wa_schema_migrations (version, name, checksum) VALUES ($1::int, 'next_expand', 'x')", {next});
  CHECK(store::require_schema(c) == next);
  auto r = store::migrate(c);
  CHECK(r.applied.empty());
  CHECK(r.version == next);
  // A later release contracts what this binary still uses: refused, with the version it needs.
  c.exec("a contract migration", "INSERT INTO wa_schema_migrations (version, name, checksum, requires_binary)"
                                 " VALUES ($1::int, 'drop_old', 'y', $2::int)",
         {next + 1, next});
  const auto msg = fmt::format("migration {} requires a binary with schema >= {}; upgrade waconnector", next + 1, next);
  CHECK_THROWS_AS(store::require_schema(c), store::SchemaError);
  CHECK_THROWS_WITH(store::require_schema(c), Catch::Contains(msg) && Catch::Contains("outside its compatibility window"));
  CHECK_THROWS_WITH(store::migrate(c), Catch::Contains(msg));
  // A contract migration whose floor is this binary's own schema keeps it inside the window.
  c.exec("lower the floor", "UPDATE wa_schema_migrations SET requires_binary = $1::int WHERE version = $2::int",
         {latest, next + 1});
  CHECK(store::require_schema(c) == next + 1);
}

TEST_CASE("an unknown migration inside the binary's own range is refused", "[store][pg]") {
  test::TestDatabase db(false);
  auto c = db.connect();
  const auto& all = store::embedded_migrations();
  std::vector<store::Migration> first{all.front()};
  store::migrate(c, first);
  c.exec("a foreign migration 2", "INSERT INTO wa_schema_migrations (version, name, checksum) VALUES (2, 'other_build', 'z')");
  // A binary that knows 1 and 3 but not 2: 2 is inside its range, so not "the next release".
  store::Migration three;
  three.version = 3;
  three.name = "three";
  three.sql = "SELECT 1";
  three.checksum = std::string(64, 'b');
  first.push_back(three);
  CHECK_THROWS_WITH(store::migrate(c, first),
                    Catch::Contains("database has migration 2 (other_build) that this binary does not know"));
}

TEST_CASE("the compat line of a migration: parsed, and a malformed one refused", "[store]") {
  CHECK(store::parse_requires_binary("CREATE TABLE t (x int);", 9) == 0);
  CHECK(store::parse_requires_binary("-- drop the old column\n-- compat: requires-binary 8\nALTER TABLE t DROP x;", 9) == 8);
  CHECK(store::parse_requires_binary("-- compat: requires-binary  7 \r\nSELECT 1;", 9) == 7);
  CHECK_THROWS_AS(store::parse_requires_binary("-- compat: requires-binary eight\n", 9), store::SchemaError);
  CHECK_THROWS_WITH(store::parse_requires_binary("-- compat: requires-binary 9\n", 9),
                    Catch::Contains("must name an earlier schema version (1..8)"));
  for (const auto& m : store::embedded_migrations()) CHECK(m.requires_binary < m.version);
}

TEST_CASE("a changed checksum of an applied migration is refused", "[store][pg]") {
  test::TestDatabase db;
  auto c = db.connect();
  c.exec_simple("tamper with a checksum", "UPDATE wa_schema_migrations SET checksum = repeat('0', 64) WHERE version = 1");
  CHECK_THROWS_AS(store::migrate(c), store::SchemaError);
  CHECK_THROWS_WITH(store::migrate(c), Catch::Contains("migration 1 (account_registry) was changed after it was applied"));
  CHECK_THROWS_WITH(store::require_schema(c), Catch::Contains("was changed"));
}

TEST_CASE("missing migrations: require_schema names them - a failing migration rolls back alone", "[store][pg]") {
  test::TestDatabase db(false);
  auto c = db.connect();
  const auto& all = store::embedded_migrations();
  // Only the first migration, then a broken second one.
  std::vector<store::Migration> ms{all.front()};
  store::Migration broken;
  broken.version = 2;
  broken.name = "broken";
  broken.sql = "CREATE TABLE half_done (x int); SELECT no_such_function();";
  broken.checksum = std::string(64, 'a');
  ms.push_back(broken);
  CHECK_THROWS_WITH(store::migrate(c, ms), Catch::Contains("apply migration 0002_broken"));
  CHECK(store::current_schema_version(c) == 1);
  CHECK(count(c, "SELECT count(*) FROM pg_tables WHERE tablename = 'half_done'") == 0);
  CHECK_THROWS_WITH(store::require_schema(c), Catch::Contains("migrations 2") && Catch::Contains("are missing"));
  // The real migrations finish the job.
  CHECK(store::migrate(c).applied.size() == all.size() - 1);
  CHECK_NOTHROW(store::require_schema(c));
}
