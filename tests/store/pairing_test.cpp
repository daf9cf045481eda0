// store/pairing: pair-code requests answered only under the current lease, the relink of a
// logged-out account, and the NOTIFY channels the triggers use.
#include <chrono>

#include <prometheus/counter.h>
#include <catch2/catch.hpp>

#include "store/accounts.h"
#include "store/errors.h"
#include "store/notify.h"
#include "store/pairing.h"
#include "tests/store/test_db.h"

using namespace wa;
using namespace std::chrono_literals;

namespace {

std::string state_of(pg::Connection& c, std::int64_t id) {
  auto q = store::get_pair_code_request(c, id);
  REQUIRE(q);
  return q->state;
}

}  // namespace

TEST_CASE("pair codes: the leader answers under its epoch - a stale-epoch answer is refused", "[store][pg]") {
  test::TestDatabase db;
  auto c = db.connect();
  store::add_account(c, "acme", std::nullopt);
  prometheus::Counter refused;
  const store::WriteFence fence("acme", store::begin_lease(c, "acme", "pod-a").epoch, &refused);

  const auto first = store::insert_pair_code_request(c, "acme", "15550001234", true);
  const auto pending = store::pending_pair_code_requests(c, {"acme", "nobody"}, 60000);
  REQUIRE(pending.size() == 1);
  CHECK(pending[0].id == first);
  CHECK_FALSE(pending[0].expired);
  CHECK(store::answer_pair_code_request(c, fence, first, "pod-a", "ABCD1234"));
  auto q = store::get_pair_code_request(c, first);
  CHECK(q->state == "answered");
  CHECK(q->code == "ABCD1234");
  CHECK(q->answered_by == "pod-a");
  CHECK_FALSE(store::answer_pair_code_request(c, fence, first, "pod-a", "ABCD1234"));  // no longer pending

  // Another pod began a lease: the old leader's answer and failure are both refused, and the
  // request stays pending for the new leader.
  const auto second = store::insert_pair_code_request(c, "acme", "15550001234", false);
  auto b = db.connect("pod b");
  const store::WriteFence newer("acme", store::begin_lease(b, "acme", "pod-b").epoch);
  CHECK_THROWS_AS(store::answer_pair_code_request(c, fence, second, "pod-a", "WXYZ5678"), store::EpochMoved);
  CHECK_THROWS_AS(store::fail_pair_code_request(c, fence, second, "pod-a", "gone"), store::EpochMoved);
  CHECK(refused.Value() == 2);
  CHECK(state_of(c, second) == "pending");
  CHECK(store::fail_pair_code_request(b, newer, second, "pod-b", "the client is not waiting for pairing"));
  q = store::get_pair_code_request(c, second);
  CHECK(q->state == "failed");
  CHECK(q->error == "the client is not waiting for pairing");
  CHECK_FALSE(q->code);

  // Revoked locally: refused without the database deciding.
  const auto third = store::insert_pair_code_request(c, "acme", "15550001234", true);
  store::WriteFence revoked("acme", newer.epoch());
  revoked.revoke();
  CHECK_THROWS_AS(store::answer_pair_code_request(b, revoked, third, "pod-b", "ABCD1234"), store::EpochMoved);
  CHECK(state_of(c, third) == "pending");
}

TEST_CASE("pair codes: a fence answers only its own account's requests", "[store][pg]") {
  test::TestDatabase db;
  auto c = db.connect();
  store::add_account(c, "acme", std::nullopt);
  store::add_account(c, "other", std::nullopt);
  const store::WriteFence acme("acme", store::begin_lease(c, "acme", "pod-a").epoch);
  const auto theirs = store::insert_pair_code_request(c, "other", "15550001234", true);
  CHECK_THROWS_AS(store::answer_pair_code_request(c, acme, theirs, "pod-a", "ABCD1234"), store::StoreError);
  CHECK(state_of(c, theirs) == "pending");
}

TEST_CASE("pair codes: old requests come back expired - the CLI withdraws its own", "[store][pg]") {
  test::TestDatabase db;
  auto c = db.connect();
  store::add_account(c, "acme", std::nullopt);
  const auto old = store::insert_pair_code_request(c, "acme", "15550001234", true);
  c.exec("test: age the request",
         "UPDATE wa_pair_code_requests SET requested_at = now() - interval '2 minutes'"
         " WHERE id = $1",
         {old});
  const auto young = store::insert_pair_code_request(c, "acme", "15550001234", true);
  const auto p = store::pending_pair_code_requests(c, {"acme"}, 60000);
  REQUIRE(p.size() == 2);
  CHECK(p[0].id == old);
  CHECK(p[0].expired);
  CHECK(p[1].id == young);
  CHECK_FALSE(p[1].expired);
  CHECK(state_of(c, old) == "pending");  // listing writes nothing
  CHECK(store::pending_pair_code_requests(c, {}, 60000).empty());

  CHECK(store::withdraw_pair_code_request(c, young, "the CLI stopped waiting"));
  CHECK(state_of(c, young) == "failed");
  CHECK(store::get_pair_code_request(c, young)->answered_by == "cli");
  CHECK_FALSE(store::withdraw_pair_code_request(c, young, "again"));
}

TEST_CASE("relink: a logged-out account loses its jid and device, gets its pairing key back", "[store][pg]") {
  test::TestDatabase db;
  auto c = db.connect();
  const std::string jid = "15550004444:5@s.whatsapp.net";
  store::add_account(c, "acme", jid);
  const auto epoch = store::begin_lease(c, "acme", "pod-a").epoch;
  c.exec("test: a device with pre-keys",
         "INSERT INTO wa_devices (business_id, noise_priv, identity_priv, signed_pre_key_id, "
         "signed_pre_key_priv,"
         " signed_pre_key_sig, registration_id, adv_secret, jid, usable)"
         " VALUES ('acme', $1, $1, 1, $1, $2, 7, $1, $3, false)",
         {pg::Param::bytes(std::vector<std::uint8_t>(32, 1)),
          pg::Param::bytes(std::vector<std::uint8_t>(64, 2)), jid});
  c.exec("test: a pre-key",
         "INSERT INTO wa_device_pre_keys (business_id, key_id, priv) VALUES ('acme', 1, $1)",
         {pg::Param::bytes(std::vector<std::uint8_t>(32, 3))});

  {
    pg::Transaction tx(c, "test: a pairing in the history");
    store::record_pairing_in_transaction(c, "acme", jid, epoch);
    tx.commit();
  }

  CHECK_FALSE(store::reset_logged_out_for_pairing(c, "acme"));  // not logged out: nothing changes
  CHECK(store::get_account(c, "acme")->jid == jid);
  CHECK_FALSE(store::reset_logged_out_for_pairing(c, "nobody"));

  c.exec("test: logged out", "UPDATE wa_accounts SET status = 'logged_out' WHERE business_id = 'acme'");
  REQUIRE(store::reset_logged_out_for_pairing(c, "acme"));
  const auto a = *store::get_account(c, "acme");
  CHECK_FALSE(a.jid);
  CHECK(a.status == "disconnected");
  CHECK(a.lock_key == store::compute_lock_key(c, "acme", std::nullopt));
  CHECK(a.lease_epoch == epoch + 1);  // a late write of the logged-out lease is refused
  CHECK(c.exec("test: devices", "SELECT count(*) FROM wa_devices").text(0, 0) == "0");
  CHECK(c.exec("test: pre-keys", "SELECT count(*) FROM wa_device_pre_keys").text(0, 0) == "0");
  CHECK_THROWS_AS(store::set_status(c, "acme", epoch, "logged_out"), store::EpochMoved);
  const auto history = store::pairing_history(c, "acme");
  REQUIRE(history.size() == 1);
  CHECK(history[0].jid == jid);  // what it was linked to survives the relink
  CHECK(history[0].pod == "pod-a");
  CHECK(history[0].end_reason == "relinked");
}

TEST_CASE("notify: the channel constants are the ones the pair-code trigger uses", "[store][pg]") {
  test::TestDatabase db;
  auto leader = db.connect("leader");
  auto cli = db.connect("cli");
  auto c = db.connect();
  store::add_account(c, "acme", std::nullopt);
  store::listen(leader, store::kPairCodeRequestChannel);
  store::listen(cli, store::kPairCodeAnswerChannel);
  CHECK_FALSE(store::wait_for_notify(leader, 0ms));

  const auto id = store::insert_pair_code_request(c, "acme", "15550001234", true);
  CHECK(store::wait_for_notify(leader, 5000ms));
  CHECK_FALSE(store::wait_for_notify(cli, 0ms));
  const store::WriteFence fence("acme", 0);
  REQUIRE(store::answer_pair_code_request(c, fence, id, "pod-a", "ABCD1234"));
  CHECK(store::wait_for_notify(cli, 5000ms));

  auto standby = db.connect("standby");
  store::listen(standby, store::kLeaderChannel);
  store::notify(c, store::kLeaderChannel, "pod-a");
  CHECK(store::wait_for_notify(standby, 5000ms));
}
