// The statements a pod's periodic rounds run once for every account it leads (issue 10):
// pending log-out requests, the outbox backlog and the activity stamps, each one statement for
// many accounts. Each must answer per account exactly what the per-account statement it replaced
// answered: its own rows only, the expiry, the claim's epoch condition, the epoch fence.
#include <catch2/catch.hpp>

#include "store/accounts.h"
#include "store/fenced_write.h"
#include "store/logout_requests.h"
#include "store/outbox.h"
#include "tests/store/test_db.h"

using namespace wa;

namespace {

// Registers the accounts, each at its lease epoch; returns a connection to `db`.
pg::Connection with_accounts(const test::TestDatabase& db, const std::vector<store::AccountEpoch>& accounts) {
  auto c = db.connect();
  for (const auto& a : accounts) {
    store::add_account(c, a.business_id, std::nullopt);
    c.exec("epoch", "UPDATE wa_accounts SET lease_epoch = $2::bigint WHERE business_id = $1",
           {a.business_id, a.epoch});
  }
  return c;
}

void enqueue(pg::Connection& c, const std::string& id) {
  store::EnqueueRequest req;
  req.business_id = id;
  req.recipient = "15550001@s.whatsapp.net";
  req.text = "hi";
  store::enqueue(c, req);
}

}  // namespace

TEST_CASE("periodic: pending logouts of many accounts in one statement - expired ones fail, others wait",
          "[pg][store]") {
  test::TestDatabase db;
  auto c = with_accounts(db, {{"a", 1}, {"b", 1}, {"c", 1}});
  const auto fresh_a = store::request_logout(c, "a");
  const auto old_b = store::request_logout(c, "b");
  const auto fresh_b = store::request_logout(c, "b");
  const auto other_c = store::request_logout(c, "c");
  c.exec("age", "UPDATE wa_logout_requests SET created_at = now() - interval '2 minutes' WHERE id = $1", {old_b});

  const auto pending = store::pending_logouts(c, {"a", "b"}, 60000);
  REQUIRE(pending.size() == 2);
  CHECK(pending[0].business_id == "a");
  CHECK(pending[0].id == fresh_a);
  CHECK(pending[1].business_id == "b");
  CHECK(pending[1].id == fresh_b);
  const auto expired = store::get_logout_request(c, "b", old_b);
  REQUIRE(expired);
  CHECK(expired->state == "failed");
  CHECK(expired->error.value_or("") == "no leader answered in time");
  // Not led here: neither read nor expired.
  CHECK(store::get_logout_request(c, "c", other_c)->state == "pending");
  CHECK(store::pending_logouts(c, {}, 60000).empty());
}

TEST_CASE("periodic: the outbox backlog of many accounts - claimable by each account's own epoch",
          "[pg][store]") {
  test::TestDatabase db;
  auto c = with_accounts(db, {{"a", 3}, {"b", 3}, {"idle", 3}});
  enqueue(c, "a");
  enqueue(c, "b");
  // b's row is claimed under its current lease: the client has it, nothing to wake b for.
  REQUIRE(store::claim_outbox(c, store::WriteFence("b", 3), 10).size() == 1);
  enqueue(c, "a");

  auto backlog = store::outbox_backlog(c, {{"a", 3}, {"b", 3}, {"idle", 3}});
  CHECK(backlog.claimable == std::set<std::string>{"a"});
  CHECK(backlog.queued == 3);
  // A newer lease of b (a takeover) sends b's row again: claimable.
  backlog = store::outbox_backlog(c, {{"b", 4}});
  CHECK(backlog.claimable == std::set<std::string>{"b"});
  CHECK(store::outbox_backlog(c, {}).queued == 0);
}

TEST_CASE("periodic: activity stamps of many accounts in one statement - a stale epoch writes nothing",
          "[pg][store]") {
  test::TestDatabase db;
  auto c = with_accounts(db, {{"a", 2}, {"b", 2}});
  c.exec("reset", "UPDATE wa_accounts SET last_activity_at = NULL");
  CHECK(store::touch_activity_batch(c, {{"a", 2}, {"b", 1}}) == 1);
  auto r = c.exec("stamps", "SELECT business_id, last_activity_at IS NOT NULL FROM wa_accounts ORDER BY 1");
  REQUIRE(r.rows() == 2);
  CHECK(r.boolean(0, 1));
  CHECK_FALSE(r.boolean(1, 1));
  CHECK(store::touch_activity_batch(c, {}) == 0);
}
