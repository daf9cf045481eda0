// Hidden ([.]) measurement, run by hand: `test_store "[bench]"`. Prints numbers, asserts none.
#include <chrono>
#include <iostream>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "store/accounts.h"
#include "store/fenced_write.h"
#include "store/migrator.h"
#include "tests/store/test_db.h"

using namespace wa;

TEST_CASE("bench: fenced write overhead and migrate time", "[.][bench]") {
  using Clock = std::chrono::steady_clock;
  test::TestDatabase db(false);
  auto c = db.connect();
  const auto m0 = Clock::now();
  store::migrate(c);
  const auto migrate_ms = std::chrono::duration<double, std::milli>(Clock::now() - m0).count();
  c.exec_simple("scratch", "CREATE TABLE scratch (v int)");
  store::add_account(c, "acme", std::nullopt);
  const auto epoch = store::begin_lease(c, "acme", "pod-a").epoch;
  constexpr int n = 2000;

  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    pg::Transaction tx(c, "plain write");
    c.exec("plain insert", "INSERT INTO scratch VALUES ($1::int)", {i});
    tx.commit();
  }
  const auto plain_us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / n;

  t0 = Clock::now();
  for (int i = 0; i < n; ++i)
    store::fenced_write(c, "acme", epoch, "fenced insert",
                        [i](pg::Connection& x) { x.exec("fenced insert", "INSERT INTO scratch VALUES ($1::int)", {i}); });
  const auto fenced_us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / n;

  t0 = Clock::now();
  for (int i = 0; i < n; ++i) store::touch_activity(c, "acme", epoch);
  const auto row_us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / n;

  std::cout << fmt::format("migrate (fresh database, {} migrations): {:.1f} ms\n", store::embedded_migrations().size(),
                           migrate_ms)
            << fmt::format("plain write transaction:  {:.1f} us/write (n={})\n", plain_us, n)
            << fmt::format("fenced_write transaction: {:.1f} us/write (n={})\n", fenced_us, n)
            << fmt::format("fenced account-row update (touch_activity): {:.1f} us/write (n={})\n", row_us, n);
  SUCCEED();
}
