// The pod's store pool and notify hub against PostgreSQL: the pool never opens more than its size
// (a caller past it waits, then fails with the reason), drops broken connections and connections
// left inside a transaction, and lends no session state (the RLS business of the last user); the
// hub LISTENs every subscribed channel on one session, dispatches by channel, and after losing its
// session reconnects and tells every subscriber to sweep; a NotifyWorker wakes on a NOTIFY.
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "ha/notify_worker.h"
#include "store/connection_pool.h"
#include "store/notify.h"
#include "store/notify_hub.h"
#include "support.h"

namespace wa::pgbtest {
namespace {

using namespace std::chrono_literals;

std::int64_t sessions_named(const hatest::TestDb& db, const std::string& name) {
  auto c = db.connect("count sessions");
  return c
      .exec("count sessions",
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1", {name})
      .i64(0, 0);
}

store::PoolOptions options(const hatest::TestDb& db, std::size_t size) {
  store::PoolOptions o;
  o.url = db.url();
  o.application_name = "waconnector/test-pod/pool";
  o.size = size;
  o.acquire_timeout = 300ms;
  return o;
}

}  // namespace

TEST_CASE("store pool: at most `size` connections, a caller past them waits and then fails with the reason",
          "[pg][pool]") {
  hatest::TestDb db;
  store::ConnectionPool pool(options(db, 2));
  auto a = pool.acquire();
  auto b = pool.acquire();
  CHECK(a->backend_pid() != b->backend_pid());
  CHECK(pool.open_connections() == 2);
  CHECK(pool.in_use() == 2);
  CHECK(sessions_named(db, "waconnector/test-pod/pool") == 2);
  const auto t0 = std::chrono::steady_clock::now();
  try {
    pool.with([](pg::Connection&) {});
    FAIL("a third connection was lent");
  } catch (const pg::Error& e) {
    CHECK(std::string(e.what()).find("all 2 pooled connections stayed in use") != std::string::npos);
    CHECK_FALSE(e.connection_lost());
  }
  CHECK(std::chrono::steady_clock::now() - t0 >= 300ms);
  // A waiter gets the connection the moment one comes back.
  std::atomic<int> waited_pid{0};
  std::thread waiter([&] { pool.with([&](pg::Connection& c) { waited_pid = c.backend_pid(); }); });
  std::this_thread::sleep_for(50ms);
  const int pid_a = a->backend_pid();
  { auto done = std::move(a); }
  waiter.join();
  CHECK(waited_pid.load() == pid_a);
  CHECK(pool.open_connections() == 2);
  CHECK(sessions_named(db, "waconnector/test-pod/pool") == 2);
}

TEST_CASE("store pool: a broken connection or one left in a transaction is not lent again", "[pg][pool]") {
  hatest::TestDb db;
  store::ConnectionPool pool(options(db, 1));
  int first = 0;
  pool.with([&](pg::Connection& c) { first = c.backend_pid(); });
  {
    auto admin = db.connect("terminate");
    admin.exec("terminate", "SELECT pg_terminate_backend($1)", {first});
  }
  // Closed by the server while idle: found before it is lent (no failed first statement).
  std::this_thread::sleep_for(100ms);
  int second = 0;
  pool.with([&](pg::Connection& c) { second = static_cast<int>(c.exec("pid", "SELECT pg_backend_pid()").i64(0, 0)); });
  CHECK(second != 0);
  CHECK(second != first);
  CHECK(pool.open_connections() == 1);
  // Broken while lent: the statement fails, the pool drops it and opens another next time.
  CHECK_THROWS_AS(pool.with([&](pg::Connection& c) {
                    auto admin = db.connect("terminate");
                    admin.exec("terminate", "SELECT pg_terminate_backend($1)", {c.backend_pid()});
                    c.exec("select", "SELECT 1");
                  }),
                  pg::Error);
  CHECK(pool.open_connections() == 0);
  pool.with([&](pg::Connection& c) { second = static_cast<int>(c.exec("pid", "SELECT pg_backend_pid()").i64(0, 0)); });
  // Left inside a transaction (as after a failure between BEGIN and ROLLBACK): dropped.
  pool.with([](pg::Connection& c) { c.exec_simple("begin", "BEGIN"); });
  int third = 0;
  pool.with([&](pg::Connection& c) {
    third = c.backend_pid();
    CHECK(PQtransactionStatus(c.raw()) == PQTRANS_IDLE);
  });
  CHECK(third != second);
  CHECK(pool.open_connections() == 1);
}

TEST_CASE("store pool: no business scope survives a lend", "[pg][pool]") {
  hatest::TestDb db;
  store::ConnectionPool pool(options(db, 1));
  pool.with([](pg::Connection& c) {
    pg::TenantScope scope(c, "biz-a");
    CHECK(c.exec("scoped", "SELECT current_setting('waconnector.business_id', true)").text(0, 0) == "biz-a");
  });
  pool.with([](pg::Connection& c) {
    CHECK_FALSE(c.tenant());
    const auto v = c.exec("unscoped", "SELECT coalesce(current_setting('waconnector.business_id', true), '')");
    CHECK(v.text(0, 0).empty());
  });
}

TEST_CASE("notify hub: one session LISTENs every channel and reconnects with a sweep notice", "[pg][pool]") {
  hatest::TestDb db;
  store::NotifyHub hub({db.url(), "waconnector/test-pod/notify", 100ms});
  std::mutex mu;
  std::vector<std::string> a_got, b_got;
  int a_sweeps = 0;
  auto sa = hub.subscribe("chan_a", [&](const store::Notice& n) {
    std::lock_guard lk(mu);
    if (n.reconnected)
      ++a_sweeps;
    else
      a_got.emplace_back(n.payload);
  });
  auto sb = hub.subscribe("chan_b", [&](const store::Notice& n) {
    std::lock_guard lk(mu);
    if (!n.reconnected) b_got.emplace_back(n.payload);
  });
  auto c = db.connect("notify");
  // Until both LISTENs are in (notifications before them are lost, as the sweeps assume).
  REQUIRE(hatest::wait_for(
      [&] {
        store::notify(c, "chan_a", "x");
        store::notify(c, "chan_b", "y");
        std::lock_guard lk(mu);
        return !a_got.empty() && !b_got.empty();
      },
      5s));
  CHECK(sessions_named(db, "waconnector/test-pod/notify") == 1);
  {
    std::lock_guard lk(mu);
    for (const auto& p : a_got) CHECK(p == "x");
    for (const auto& p : b_got) CHECK(p == "y");
    CHECK(a_sweeps >= 1);
  }
  // The session dies: the hub reconnects, tells subscribers to sweep, and delivers again.
  int sweeps_before = 0;
  {
    std::lock_guard lk(mu);
    sweeps_before = a_sweeps;
    a_got.clear();
  }
  c.exec("terminate the hub", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
         {std::string("waconnector/test-pod/notify")});
  REQUIRE(hatest::wait_for(
      [&] {
        std::lock_guard lk(mu);
        return a_sweeps > sweeps_before;
      },
      10s));
  REQUIRE(hatest::wait_for(
      [&] {
        store::notify(c, "chan_a", "after");
        std::lock_guard lk(mu);
        return !a_got.empty();
      },
      5s));
  CHECK(hub.connected());
  // Unsubscribed: no more calls.
  sb.reset();
  const auto b_before = [&] {
    std::lock_guard lk(mu);
    return b_got.size();
  }();
  store::notify(c, "chan_b", "late");
  std::this_thread::sleep_for(200ms);
  std::lock_guard lk(mu);
  CHECK(b_got.size() == b_before);
}

TEST_CASE("notify worker: a NOTIFY through the hub runs a round on a pooled connection", "[pg][pool]") {
  hatest::TestDb db;
  store::NotifyHub hub({db.url(), "waconnector/test-pod/notify"});
  auto pool = std::make_shared<store::ConnectionPool>(options(db, 1));
  std::atomic<int> notified{0}, rounds{0};
  ha::NotifyWorker w(hub, pool, {"test_worker", "chan_w", 60s, true}, [&](store::ConnectionPool& p, bool n) {
    p.with([](pg::Connection& c) { c.exec("round", "SELECT 1"); });
    rounds.fetch_add(1);
    if (n) notified.fetch_add(1);
  });
  // round_on_connect: a round at once, long before the 60 s sweep.
  REQUIRE(hatest::wait_for([&] { return rounds.load() >= 1; }, 5s));
  auto c = db.connect("notify");
  REQUIRE(hatest::wait_for(
      [&] {
        store::notify(c, "chan_w", "go");
        return hatest::wait_for([&] { return notified.load() > 0; }, 300ms);
      },
      5s));
  w.stop();
  CHECK(pool->in_use() == 0);
}

}  // namespace wa::pgbtest
