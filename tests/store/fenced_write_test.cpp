#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include <catch2/catch.hpp>
#include <prometheus/counter.h>

#include "store/accounts.h"
#include "store/fenced_write.h"
#include "tests/store/test_db.h"

using namespace wa;

namespace {

void create_scratch(pg::Connection& c) {
  c.exec_simple("create scratch table", "CREATE TABLE scratch (business_id text, v int)");
}

std::int64_t scratch_rows(pg::Connection& c) {
  return c.exec("count scratch", "SELECT count(*) FROM scratch").i64(0, 0);
}

void insert_scratch(pg::Connection& c, int v) {
  c.exec("insert scratch", "INSERT INTO scratch VALUES ('acme', $1::int)", {v});
}

}  // namespace

TEST_CASE("fenced writes pass under the current epoch and are refused after another begin_lease", "[store][pg]") {
  test::TestDatabase db;
  auto a = db.connect("pod a");
  auto b = db.connect("pod b");
  create_scratch(a);
  store::add_account(a, "acme", std::nullopt);
  prometheus::Counter refused;

  const auto ea = store::begin_lease(a, "acme", "pod-a").epoch;
  store::fenced_write(a, "acme", ea, "save session", [](pg::Connection& c) { insert_scratch(c, 1); }, &refused);
  CHECK(scratch_rows(a) == 1);
  CHECK(refused.Value() == 0);

  const auto eb = store::begin_lease(b, "acme", "pod-b").epoch;
  REQUIRE(eb == ea + 1);
  try {
    store::fenced_write(a, "acme", ea, "save session", [](pg::Connection& c) { insert_scratch(c, 2); }, &refused);
    FAIL("a stale-epoch write was accepted");
  } catch (const store::EpochMoved& e) {
    CHECK(e.business_id() == "acme");
    CHECK(e.held_epoch() == ea);
    CHECK(e.current_epoch() == std::optional<std::int64_t>(eb));
    CHECK_THAT(std::string(e.what()), Catch::Contains("save session for business acme refused") &&
                                          Catch::Contains("lease epoch " + std::to_string(ea)) &&
                                          Catch::Contains("now " + std::to_string(eb)));
  }
  CHECK(refused.Value() == 1);
  CHECK(scratch_rows(a) == 1);  // the body never ran, or was rolled back

  // Account-row writes are fenced the same way.
  CHECK_THROWS_AS(store::set_status(a, "acme", ea, "connected", &refused), store::EpochMoved);
  CHECK_THROWS_AS(store::set_connected(a, "acme", ea, true, &refused), store::EpochMoved);
  CHECK(refused.Value() == 3);
  CHECK(store::get_account(a, "acme")->status == "disconnected");
  CHECK(store::get_account(a, "acme")->session_restore_count == 0);

  // The new leader writes fine; the connection of the refused one is still usable.
  store::fenced_write(b, "acme", eb, "save session", [](pg::Connection& c) { insert_scratch(c, 3); }, &refused);
  CHECK(scratch_rows(a) == 2);
  CHECK(refused.Value() == 3);

  // A body that throws rolls back its writes.
  CHECK_THROWS_WITH(store::fenced_write(b, "acme", eb, "save session",
                                        [](pg::Connection& c) {
                                          insert_scratch(c, 4);
                                          throw std::runtime_error("body failed");
                                        }),
                    "body failed");
  CHECK(scratch_rows(a) == 2);

  // Inside a caller's transaction fenced_write refuses (its COMMIT would commit the caller's work).
  {
    pg::Transaction outer(b, "outer");
    CHECK_THROWS_WITH(store::fenced_write(b, "acme", eb, "nested", [](pg::Connection&) {}),
                      Catch::Contains("outside any transaction"));
  }

  // An unknown account is refused too.
  CHECK_THROWS_AS(store::fenced_write(a, "nobody", 1, "save", [](pg::Connection&) {}, &refused), store::EpochMoved);
  CHECK(refused.Value() == 4);
}

TEST_CASE("a revoked WriteFence refuses locally", "[store][pg]") {
  test::TestDatabase db;
  auto c = db.connect();
  create_scratch(c);
  store::add_account(c, "acme", std::nullopt);
  prometheus::Counter refused;
  store::WriteFence fence("acme", store::begin_lease(c, "acme", "pod-a").epoch, &refused);
  fence.write(c, "save", [](pg::Connection& x) { insert_scratch(x, 1); });
  fence.revoke();
  CHECK_THROWS_AS(fence.write(c, "save", [](pg::Connection& x) { insert_scratch(x, 2); }), store::EpochMoved);
  CHECK(refused.Value() == 1);
  CHECK(scratch_rows(c) == 1);
}

TEST_CASE("a fenced write in flight makes a concurrent begin_lease wait", "[store][pg]") {
  test::TestDatabase db;
  auto writer = db.connect("old leader");
  auto leader = db.connect("new leader");
  auto observer = db.connect("observer");
  create_scratch(writer);
  store::add_account(writer, "acme", std::nullopt);
  const auto e1 = store::begin_lease(writer, "acme", "pod-a").epoch;

  // Declared before the transaction so that, should a check fail, the transaction rolls back
  // (unblocking begin_lease) before the future's destructor waits for it.
  std::future<store::Lease> fut;
  // The old leader's write is in flight: epoch checked, row written, not yet committed.
  auto tx = std::make_unique<pg::Transaction>(writer, "in-flight write");
  store::check_epoch(writer, "acme", e1, "in-flight write");
  insert_scratch(writer, 1);

  std::atomic<bool> lease_done{false};
  fut = std::async(std::launch::async, [&] {
    auto l = store::begin_lease(leader, "acme", "pod-b");
    lease_done = true;
    return l;
  });

  // Await the event "the new leader's UPDATE is blocked by the writer" (not a sleep): the server
  // says so in pg_blocking_pids.
  bool blocked = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = observer.exec("is begin_lease blocked by the writer",
                           "SELECT $2::int = ANY(pg_blocking_pids($1::int))",
                           {leader.backend_pid(), writer.backend_pid()});
    if (r.boolean(0, 0)) {
      blocked = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  REQUIRE(blocked);
  CHECK_FALSE(lease_done.load());
  CHECK(observer.exec("epoch while blocked", "SELECT lease_epoch FROM wa_accounts").i64(0, 0) == e1);

  tx->commit();
  tx.reset();
  const auto l2 = fut.get();
  CHECK(l2.epoch == e1 + 1);
  // The old epoch's write landed before the new lease; after it, old-epoch writes are refused.
  CHECK(scratch_rows(observer) == 1);
  CHECK_THROWS_AS(store::fenced_write(writer, "acme", e1, "late write", [](pg::Connection& c) { insert_scratch(c, 2); }),
                  store::EpochMoved);
  CHECK(scratch_rows(observer) == 1);
}

TEST_CASE("a stale write that waited behind begin_lease is refused", "[store][pg]") {
  // The other order: the new lease's UPDATE is uncommitted (held in a transaction) while the old
  // leader's fenced write arrives; FOR SHARE waits, then sees the new epoch and refuses.
  test::TestDatabase db;
  auto writer = db.connect("old leader");
  auto leader = db.connect("new leader");
  auto observer = db.connect("observer");
  create_scratch(writer);
  store::add_account(writer, "acme", std::nullopt);
  const auto e1 = store::begin_lease(writer, "acme", "pod-a").epoch;
  prometheus::Counter refused;

  std::future<std::string> fut;  // before tx: see above
  auto tx = std::make_unique<pg::Transaction>(leader, "lease in a transaction");
  const auto e2 = store::begin_lease(leader, "acme", "pod-b").epoch;

  fut = std::async(std::launch::async, [&] {
    try {
      store::fenced_write(writer, "acme", e1, "late write", [](pg::Connection& c) { insert_scratch(c, 1); }, &refused);
      return std::string("accepted");
    } catch (const store::EpochMoved& e) {
      return std::string(e.what());
    }
  });
  bool blocked = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!blocked && std::chrono::steady_clock::now() < deadline) {
    blocked = observer
                  .exec("is the write blocked by the lease", "SELECT $2::int = ANY(pg_blocking_pids($1::int))",
                        {writer.backend_pid(), leader.backend_pid()})
                  .boolean(0, 0);
    if (!blocked) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  REQUIRE(blocked);
  tx->commit();
  tx.reset();
  CHECK_THAT(fut.get(), Catch::Contains("refused") && Catch::Contains("now " + std::to_string(e2)));
  CHECK(refused.Value() == 1);
  CHECK(scratch_rows(observer) == 0);
}
