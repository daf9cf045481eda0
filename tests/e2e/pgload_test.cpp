// Issue 10: a pod's PostgreSQL load at steady state must not grow with the accounts it leads. One
// pod on wasim, 2 idle logged-in accounts, then 20: over the same window, every statement the pod
// runs is counted with pg_stat_statements (on a cluster this test starts, with the module
// preloaded). A statement run once per account per tick (an outbox claim per account, a logout
// poll per account) is called ~10x as often with 20 accounts and fails the test; one per pod per
// tick is called as often. Counts, not timings: the bound is loose (x1.5 + 4 calls) because a
// per-account periodic statement grows tenfold.
// Left out of the comparison: the transaction wrappers shared by every write (BEGIN, COMMIT, the
// row-security set_config, the epoch check FOR SHARE), which cannot be told apart by text, and the
// webhook sender's statements (its own poll, app/api/webhook_sender.*).
#include <iostream>
#include <map>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "cluster.h"
#include "fleet_pairing.h"
#include "own_postgres.h"
#include "store/accounts.h"

namespace wa::e2e {
namespace {

// Calls per normalised statement in database `dbid` during `window`.
std::map<std::string, std::int64_t> calls_during(pg::Connection& admin, std::int64_t dbid,
                                                 std::chrono::seconds window) {
  const auto read = [&] {
    std::map<std::string, std::int64_t> out;
    auto r = admin.exec("statements",
                        "SELECT query, sum(calls)::bigint FROM pg_stat_statements WHERE dbid = $1 GROUP BY query",
                        {pg::Param(dbid)});
    for (int i = 0; i < r.rows(); ++i) out[std::string(r.text(i, 0))] = r.i64(i, 1);
    return out;
  };
  const auto a = read();
  std::this_thread::sleep_for(window);
  auto b = read();
  for (auto& [q, n] : b)
    if (auto it = a.find(q); it != a.end()) n -= it->second;
  return b;
}

bool compared(const std::string& q) {
  for (const char* skip : {"BEGIN", "COMMIT", "ROLLBACK", "SELECT set_config("})
    if (q.rfind(skip, 0) == 0) return false;
  return q.find("FOR SHARE") == std::string::npos && q.find("wa_webhook") == std::string::npos &&
         q.find("wa_events") == std::string::npos;
}

}  // namespace

TEST_CASE("pgload: a pod's statements per tick do not grow from 2 to 20 idle logged-in accounts",
          "[pg][e2e][pgload]") {
  OwnPostgres pg("pgload", true);
  REQUIRE(setenv("WACONN_TEST_DATABASE_URL", pg.url().c_str(), 1) == 0);
  hatest::TestDb db;
  Wasim wasim;
  auto admin = pg::Connection::open(pg.url(), "pgload admin");
  const auto dbid = [&] {
    auto c = db.connect("database name");
    const auto name = c.exec("name", "SELECT current_database()").opt(0, 0).value_or("");
    return admin.exec("oid", "SELECT oid FROM pg_database WHERE datname = $1", {pg::Param(name)}).i64(0, 0);
  }();
  const auto phone_of = [](const std::string& id) { return fmt::format("+1558{:07}", std::stoi(id.substr(5))); };
  hatest::Replica pod("pod-0", {"--database-url", db.url(), "--wa-url", wasim.ws_url(), "--wa-root-key",
                                wasim.root_key_hex(), "--io-threads", "2"});
  const auto window = std::chrono::seconds(10);
  std::map<int, std::map<std::string, std::int64_t>> calls;
  int registered = 0;
  for (const int n : {2, 20}) {
    {
      auto c = db.connect("register accounts");
      for (; registered < n; ++registered) store::add_account(c, fmt::format("load-{:05}", registered), std::nullopt);
    }
    REQUIRE(pair_published(db, wasim, n, std::chrono::seconds(90), phone_of) >= n);
    REQUIRE(hatest::wait_for([&] { return logged_in_count(pod) >= n; }, std::chrono::seconds(60)));
    std::this_thread::sleep_for(std::chrono::seconds(3));  // the logins' own writes are over
    calls[n] = calls_during(admin, dbid, window);
    std::int64_t total = 0;
    for (const auto& [q, k] : calls[n]) total += k;
    std::cout << fmt::format("pgload: {} accounts on one pod: {} statements in {} s\n", n, total, window.count());
  }
  for (const auto& [q, k20] : calls[20]) {
    if (!compared(q)) continue;
    const auto it = calls[2].find(q);
    const std::int64_t k2 = it == calls[2].end() ? 0 : it->second;
    INFO("statement: " << q << "\ncalls with 2 accounts: " << k2 << ", with 20: " << k20);
    CHECK(static_cast<double>(k20) <= 1.5 * static_cast<double>(k2) + 4);
  }
}

}  // namespace wa::e2e
