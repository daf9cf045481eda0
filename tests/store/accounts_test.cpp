#include <catch2/catch.hpp>

#include "store/accounts.h"
#include "tests/store/test_db.h"

using namespace wa;

namespace {

std::int64_t scalar(pg::Connection& c, const char* sql, const std::vector<pg::Param>& params = {}) {
  return c.exec("test scalar", sql, params).i64(0, 0);
}

}  // namespace

TEST_CASE("business id and jid syntax", "[store]") {
  CHECK(store::validate_business_id("acme-1.prod_x").empty());
  CHECK(store::validate_business_id(std::string(64, 'a')).empty());
  CHECK_THAT(store::validate_business_id(""), Catch::Contains("empty"));
  CHECK_THAT(store::validate_business_id(std::string(65, 'a')), Catch::Contains("at most 64"));
  CHECK_THAT(store::validate_business_id("a b"), Catch::Contains("only letters"));
  CHECK_THAT(store::validate_business_id("a'b"), Catch::Contains("only letters"));

  CHECK(store::validate_jid("15551234567@s.whatsapp.net").empty());
  CHECK(store::validate_jid("15551234567:3@s.whatsapp.net").empty());
  CHECK(store::validate_jid("123456789@lid").empty());
  CHECK_FALSE(store::validate_jid("15551234567").empty());
  CHECK_FALSE(store::validate_jid("@s.whatsapp.net").empty());
  CHECK_FALSE(store::validate_jid("1555@").empty());
  CHECK_FALSE(store::validate_jid("1555:@s.whatsapp.net").empty());
  CHECK_FALSE(store::validate_jid("1555:x@s.whatsapp.net").empty());
  CHECK_FALSE(store::validate_jid("1555@a@b").empty());
  CHECK_FALSE(store::validate_jid("15 55@s.whatsapp.net").empty());
}

TEST_CASE("add and list accounts", "[store][pg]") {
  test::TestDatabase db;
  auto c = db.connect();
  auto a = store::add_account(c, "beta", std::nullopt);
  CHECK(a.business_id == "beta");
  CHECK_FALSE(a.jid);
  CHECK(a.status == "disconnected");
  CHECK(a.lease_epoch == 0);
  CHECK(a.failover_count == 0);
  CHECK(a.health_score == 100);
  CHECK(a.created_at_ms > 0);
  store::add_account(c, "alpha", std::string("15551234567@s.whatsapp.net"));

  auto all = store::list_accounts(c);
  REQUIRE(all.size() == 2);
  CHECK(all[0].business_id == "alpha");
  CHECK(all[0].jid == std::optional<std::string>("15551234567@s.whatsapp.net"));
  CHECK(all[1].business_id == "beta");
  auto some = store::list_accounts(c, {"beta", "nobody", "we\"ird"});
  REQUIRE(some.size() == 1);
  CHECK(some[0].business_id == "beta");
  CHECK(store::get_account(c, "alpha"));
  CHECK_FALSE(store::get_account(c, "nobody"));

  CHECK_THROWS_AS(store::add_account(c, "beta", std::nullopt), store::AlreadyExists);
  CHECK_THROWS_WITH(store::add_account(c, "beta", std::nullopt), Catch::Contains("business beta is already registered"));
  CHECK_THROWS_WITH(store::add_account(c, "gamma", std::string("15551234567@s.whatsapp.net")),
                    Catch::Contains("already registered for business alpha"));
  CHECK_THROWS_AS(store::add_account(c, "bad id", std::nullopt), store::StoreError);
  CHECK_THROWS_AS(store::add_account(c, "ok", std::string("nojid")), store::StoreError);
  CHECK(store::list_accounts(c).size() == 2);
}

TEST_CASE("lock keys are computed by the database from jid or pair:business_id", "[store][pg]") {
  test::TestDatabase db;
  auto c = db.connect();
  store::require_lock_key_mode(c, store::LockKeyMode::hashtext);
  auto a = store::add_account(c, "acme", std::nullopt);
  CHECK(a.lock_key == scalar(c, "SELECT hashtext('pair:acme')::bigint"));
  auto b = store::add_account(c, "bolt", std::string("15550001@s.whatsapp.net"));
  CHECK(b.lock_key == scalar(c, "SELECT hashtext('15550001@s.whatsapp.net')::bigint"));
  CHECK(store::compute_lock_key(c, "x", std::nullopt) == scalar(c, "SELECT hashtext('pair:x')::bigint"));

  // Setting the jid (after pairing) moves the key; the leader's epoch fences it.
  const auto lease = store::begin_lease(c, "acme", "pod-0");
  const auto key = store::set_jid(c, "acme", lease.epoch, std::string("15550002:4@s.whatsapp.net"));
  CHECK(key == scalar(c, "SELECT hashtext('15550002:4@s.whatsapp.net')::bigint"));
  auto acme = store::get_account(c, "acme");
  REQUIRE(acme);
  CHECK(acme->lock_key == key);
  CHECK(acme->status == "authenticated");
  CHECK_THROWS_AS(store::set_jid(c, "acme", lease.epoch - 1, std::string("15550003@s.whatsapp.net")),
                  store::EpochMoved);
  CHECK(store::get_account(c, "acme")->lock_key == key);
}

TEST_CASE("64-bit lock keys with hashtextextended", "[store][pg]") {
  test::TestDatabase db;
  auto c = db.connect();
  store::require_lock_key_mode(c, store::LockKeyMode::hashtextextended);
  auto a = store::add_account(c, "acme", std::nullopt);
  CHECK(a.lock_key == scalar(c, "SELECT hashtextextended('pair:acme', 0)"));
  auto b = store::add_account(c, "bolt", std::string("15550001@s.whatsapp.net"));
  CHECK(b.lock_key == scalar(c, "SELECT hashtextextended('15550001@s.whatsapp.net', 0)"));
}

TEST_CASE("an account whose lock key is taken is refused, naming the other account", "[store][pg]") {
  test::TestDatabase db;
  auto c = db.connect();
  // Finding two strings whose hashtext collides is hard; forge a row holding the key instead.
  c.exec("forge a colliding account",
         "INSERT INTO wa_accounts (business_id, lock_key) VALUES ('forged', hashtext('pair:newcomer')::bigint)");
  try {
    store::add_account(c, "newcomer", std::nullopt);
    FAIL("add_account accepted a colliding lock key");
  } catch (const store::KeyCollision& e) {
    CHECK(e.other_business_id() == "forged");
    CHECK(e.lock_key() == scalar(c, "SELECT hashtext('pair:newcomer')::bigint"));
    CHECK_THAT(std::string(e.what()), Catch::Contains("business forged") && Catch::Contains("newcomer"));
  }
  CHECK_FALSE(store::get_account(c, "newcomer"));

  // The same check when a jid is set after pairing.
  store::add_account(c, "other", std::nullopt);
  c.exec("forge a row on the jid's key",
         "INSERT INTO wa_accounts (business_id, lock_key) VALUES ('forged2', hashtext('15559999@s.whatsapp.net')::bigint)");
  const auto lease = store::begin_lease(c, "other", "pod-0");
  CHECK_THROWS_AS(store::set_jid(c, "other", lease.epoch, std::string("15559999@s.whatsapp.net")), store::KeyCollision);
  CHECK_FALSE(store::get_account(c, "other")->jid);
}

TEST_CASE("lock-keys mode: stored once, a different mode is refused, rekey changes it", "[store][pg]") {
  test::TestDatabase db;
  auto c = db.connect();
  CHECK(store::stored_lock_key_mode(c) == store::LockKeyMode::hashtext);
  store::require_lock_key_mode(c, store::LockKeyMode::hashtext);
  CHECK_NOTHROW(store::require_lock_key_mode(c, store::LockKeyMode::hashtext));
  CHECK_THROWS_AS(store::require_lock_key_mode(c, store::LockKeyMode::hashtextextended), store::LockKeyModeMismatch);
  CHECK_THROWS_WITH(store::require_lock_key_mode(c, store::LockKeyMode::hashtextextended),
                    Catch::Contains("--lock-keys hashtextextended differs from the cluster's lock-keys mode hashtext"));
  store::add_account(c, "acme", std::nullopt);
  store::add_account(c, "bolt", std::string("15550001@s.whatsapp.net"));

  // A running pod (any session holding an account lock) blocks the rekey.
  auto pod = db.connect("pod lock session");
  pod.exec("hold an account lock", "SELECT pg_advisory_lock($1::bigint)", {store::get_account(c, "acme")->lock_key});
  CHECK_THROWS_WITH(store::rekey_accounts(c, store::LockKeyMode::hashtextextended),
                    Catch::Contains("stop every pod"));
  CHECK(store::stored_lock_key_mode(c) == store::LockKeyMode::hashtext);
  // Unlock synchronously: a closed connection's backend releases its locks asynchronously.
  pod.exec("release the account lock", "SELECT pg_advisory_unlock_all()");

  CHECK(store::rekey_accounts(c, store::LockKeyMode::hashtextextended) == 2);
  CHECK(store::stored_lock_key_mode(c) == store::LockKeyMode::hashtextextended);
  CHECK(store::get_account(c, "acme")->lock_key == scalar(c, "SELECT hashtextextended('pair:acme', 0)"));
  CHECK(store::get_account(c, "bolt")->lock_key == scalar(c, "SELECT hashtextextended('15550001@s.whatsapp.net', 0)"));
  CHECK_THROWS_AS(store::require_lock_key_mode(c, store::LockKeyMode::hashtext), store::LockKeyModeMismatch);
  CHECK(store::rekey_accounts(c, store::LockKeyMode::hashtext) == 2);
  CHECK(store::get_account(c, "acme")->lock_key == scalar(c, "SELECT hashtext('pair:acme')::bigint"));
}

TEST_CASE("begin_lease bumps the epoch and records failovers", "[store][pg]") {
  test::TestDatabase db;
  auto c = db.connect();
  store::add_account(c, "acme", std::nullopt);
  auto l1 = store::begin_lease(c, "acme", "pod-a");
  CHECK(l1.epoch == 1);
  CHECK_FALSE(l1.previous_pod);
  CHECK_FALSE(l1.failover);
  auto a = store::get_account(c, "acme");
  CHECK(a->assigned_pod == std::optional<std::string>("pod-a"));
  CHECK(a->failover_count == 0);
  CHECK_FALSE(a->last_failover_at_ms);

  // The same pod again (e.g. restarted) is not a failover.
  auto l2 = store::begin_lease(c, "acme", "pod-a");
  CHECK(l2.epoch == 2);
  CHECK(l2.previous_pod == std::optional<std::string>("pod-a"));
  CHECK_FALSE(l2.failover);
  CHECK(store::get_account(c, "acme")->failover_count == 0);

  auto l3 = store::begin_lease(c, "acme", "pod-b");
  CHECK(l3.epoch == 3);
  CHECK(l3.previous_pod == std::optional<std::string>("pod-a"));
  CHECK(l3.failover);
  a = store::get_account(c, "acme");
  CHECK(a->lease_epoch == 3);
  CHECK(a->assigned_pod == std::optional<std::string>("pod-b"));
  CHECK(a->previous_pod == std::optional<std::string>("pod-a"));
  CHECK(a->failover_count == 1);
  REQUIRE(a->last_failover_at_ms);
  CHECK(*a->last_failover_at_ms >= a->created_at_ms);

  CHECK_THROWS_AS(store::begin_lease(c, "nobody", "pod-a"), store::NotFound);
}

TEST_CASE("leader writes of the account row: status, connected, disconnected, qr, health", "[store][pg]") {
  test::TestDatabase db;
  auto c = db.connect();
  store::add_account(c, "acme", std::nullopt);
  const auto e = store::begin_lease(c, "acme", "pod-a").epoch;

  store::set_qr_code(c, "acme", e, std::string("2@abc,def"));
  auto a = store::get_account(c, "acme");
  CHECK(a->status == "qr_scanning");
  CHECK(a->qr_code == std::optional<std::string>("2@abc,def"));

  store::set_connected(c, "acme", e, false);
  a = store::get_account(c, "acme");
  CHECK(a->status == "connected");
  CHECK_FALSE(a->qr_code);
  CHECK(a->last_connected_at_ms);
  CHECK(a->last_activity_at_ms);
  CHECK(a->session_restore_count == 0);
  store::set_connected(c, "acme", e, true);
  CHECK(store::get_account(c, "acme")->session_restore_count == 1);

  store::set_disconnected(c, "acme", e, "replaced", "conflict type=replaced", "disconnected");
  a = store::get_account(c, "acme");
  CHECK(a->status == "disconnected");
  CHECK(a->disconnect_reason == std::optional<std::string>("replaced"));
  CHECK(a->disconnect_details == std::optional<std::string>("conflict type=replaced"));
  CHECK(a->disconnected_at_ms);

  store::set_status(c, "acme", e, "logged_out");
  CHECK(store::get_account(c, "acme")->status == "logged_out");
  store::set_health_score(c, "acme", e, 42);
  CHECK(store::get_account(c, "acme")->health_score == 42);
  store::touch_activity(c, "acme", e);

  CHECK_THROWS_AS(store::set_status(c, "acme", e, "dancing"), store::StoreError);
  CHECK_THROWS_AS(store::set_disconnected(c, "acme", e, "bored", ""), store::StoreError);
  CHECK_THROWS_AS(store::set_health_score(c, "acme", e, 101), store::StoreError);
  // The schema enforces the vocabularies too.
  CHECK_THROWS_AS(c.exec("bad status", "UPDATE wa_accounts SET status = 'dancing'"), pg::Error);
  CHECK_THROWS_AS(c.exec("bad reason", "UPDATE wa_accounts SET disconnect_reason = 'bored'"), pg::Error);
}
