// store::PgDeviceStore on a plain connection: the batched pre-key write, the one-transaction
// pairing, and the fence on every write.
#include <catch2/catch.hpp>

#include "core/client/device.h"
#include "store/accounts.h"
#include "store/device_store.h"
#include "store/errors.h"
#include "store/pairing.h"
#include "tests/store/test_db.h"

using namespace wa;

namespace {

std::string one(pg::Connection& c, const char* sql) {
  auto r = c.exec("test: read one value", sql);
  REQUIRE(r.rows() == 1);
  return r.is_null(0, 0) ? std::string("NULL") : std::string(r.text(0, 0));
}

std::vector<client::PreKey> fresh_pre_keys(std::uint32_t first, std::size_t n) {
  std::vector<client::PreKey> keys;
  for (std::size_t i = 0; i < n; ++i)
    keys.push_back({first + static_cast<std::uint32_t>(i), crypto::KeyPair::generate(), false});
  return keys;
}

std::shared_ptr<store::WriteFence> lease(pg::Connection& c, const std::string& pod) {
  return std::make_shared<store::WriteFence>("acme", store::begin_lease(c, "acme", pod).epoch);
}

client::DeviceKeys paired(client::DeviceKeys d, const std::string& jid) {
  d.jid = jid;
  d.lid = "99887766:5@lid";
  d.account = {1, 2, 3, 4};
  d.platform = "android";
  return d;
}

}  // namespace

TEST_CASE("device store: 812 pre-keys go in one statement - all stored, ids contiguous, keys intact",
          "[store][pg]") {
  test::TestDatabase db;
  auto c = db.connect();
  store::add_account(c, "acme", std::nullopt);
  store::PgDeviceStore s(c, lease(c, "pod-a"));
  s.save_device(client::DeviceKeys::generate());
  REQUIRE(s.next_pre_key_id() == 1);

  const auto keys = fresh_pre_keys(1, 812);
  s.save_pre_keys(keys);
  CHECK(one(c, "SELECT count(*) FROM wa_device_pre_keys") == "812");
  CHECK(one(c, "SELECT min(key_id) || '..' || max(key_id) FROM wa_device_pre_keys") == "1..812");
  CHECK(one(c, "SELECT count(DISTINCT key_id) FROM wa_device_pre_keys") == "812");
  CHECK(one(c, "SELECT bool_and(length(priv) = 32 AND NOT uploaded) FROM wa_device_pre_keys") == "t");
  // One transaction: every row carries the same xmin.
  CHECK(one(c, "SELECT count(DISTINCT xmin::text) FROM wa_device_pre_keys") == "1");
  CHECK(s.next_pre_key_id() == 813);

  const auto loaded = s.unuploaded_pre_keys(1000);
  REQUIRE(loaded.size() == keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    CHECK(loaded[i].id == keys[i].id);
    CHECK(loaded[i].pair.pub == keys[i].pair.pub);
  }
  // Re-saving ids already stored replaces them (the client regenerates after a failed upload).
  auto again = fresh_pre_keys(811, 4);  // 811..814
  s.save_pre_keys(again);
  CHECK(one(c, "SELECT count(*) FROM wa_device_pre_keys") == "814");
  CHECK(s.unuploaded_pre_keys(1000).back().pair.pub == again.back().pair.pub);
  s.mark_pre_keys_uploaded(812);
  CHECK(s.uploaded_pre_key_count() == 812);
}

TEST_CASE("device store: a fenced pre-key batch stores none of its keys", "[store][pg]") {
  test::TestDatabase db;
  auto c = db.connect();
  store::add_account(c, "acme", std::nullopt);
  auto fence = lease(c, "pod-a");
  store::PgDeviceStore a(c, fence);
  a.save_device(client::DeviceKeys::generate());
  a.save_pre_keys(fresh_pre_keys(1, 10));

  auto other = db.connect("pod b");
  store::begin_lease(other, "acme", "pod-b");  // another pod leads now
  CHECK_THROWS_AS(a.save_pre_keys(fresh_pre_keys(11, 812)), client::StoreFenced);
  CHECK(one(c, "SELECT count(*) || ' ' || max(key_id) FROM wa_device_pre_keys") == "10 10");

  // Revoked locally: refused before the database is asked.
  auto fresh = lease(c, "pod-a");
  store::PgDeviceStore b(c, fresh);
  fresh->revoke();
  CHECK_THROWS_AS(b.save_pre_keys(fresh_pre_keys(11, 812)), client::StoreFenced);
  CHECK(one(c, "SELECT count(*) FROM wa_device_pre_keys") == "10");
}

TEST_CASE("device store: pairing stores device keys, jid and lock key in one transaction", "[store][pg]") {
  test::TestDatabase db;
  auto c = db.connect();
  store::add_account(c, "acme", std::nullopt);
  const auto pair_key = store::get_account(c, "acme")->lock_key;
  store::PgDeviceStore s(c, lease(c, "pod-a"));
  const auto d = client::DeviceKeys::generate();
  s.save_device(d);
  const std::string jid = "15550001:7@s.whatsapp.net";

  // pair-success: the client saves the paired device, then calls set_paired. Until then the
  // paired device is not in the database at all.
  s.save_device(paired(d, jid));
  CHECK(one(c, "SELECT coalesce(jid, 'NULL') FROM wa_devices") == "NULL");
  CHECK_FALSE(store::get_account(c, "acme")->jid);
  CHECK(store::get_account(c, "acme")->lock_key == pair_key);
  CHECK(s.paired_lock_key(jid) == std::stoll(one(c, "SELECT hashtext('15550001:7@s.whatsapp.net')")));

  s.set_paired(jid);
  CHECK(one(c, "SELECT jid || ' ' || status FROM wa_accounts") == jid + " authenticated");
  CHECK(one(c, "SELECT lock_key = hashtext('15550001:7@s.whatsapp.net') FROM wa_accounts") == "t");
  CHECK(one(c, "SELECT jid || ' ' || lid || ' ' || platform FROM wa_devices") ==
        jid + " 99887766:5@lid android");
  // Committed together, with the pairing's history row.
  CHECK(one(c, "SELECT (SELECT xmin FROM wa_devices)::text = (SELECT xmin FROM wa_accounts)::text") == "t");
  CHECK(one(c, "SELECT (SELECT xmin FROM wa_pairings)::text = (SELECT xmin FROM wa_accounts)::text") == "t");
  auto history = store::pairing_history(c, "acme");
  REQUIRE(history.size() == 1);
  CHECK(history[0].jid == jid);
  CHECK(history[0].epoch == store::get_account(c, "acme")->lease_epoch);
  CHECK(history[0].pod == "pod-a");
  CHECK_FALSE(history[0].ended_at_ms);
  auto loaded = s.load_device();
  REQUIRE(loaded);
  CHECK(loaded->jid == jid);
  CHECK(loaded->account == std::vector<std::uint8_t>{1, 2, 3, 4});
  CHECK(loaded->noise_key.priv == d.noise_key.priv);

  // Later saves of the paired device (its lid from <success>) are written at once.
  auto later = *loaded;
  later.lid = "11223344:5@lid";
  s.save_device(later);
  CHECK(one(c, "SELECT lid FROM wa_devices") == "11223344:5@lid");

  // The phone removes the device: the pairing ends with the logout.
  s.report_disconnected(core::DisconnectReason::logged_out, "401");
  history = store::pairing_history(c, "acme");
  REQUIRE(history.size() == 1);
  CHECK(history[0].end_reason == "logged_out");
  CHECK(history[0].ended_at_ms >= history[0].paired_at_ms);
  CHECK_FALSE(s.load_device());
}

TEST_CASE("device store: a fence between the paired device and set_paired leaves no half-paired account",
          "[store][pg]") {
  test::TestDatabase db;
  auto c = db.connect();
  store::add_account(c, "acme", std::nullopt);
  const auto before = *store::get_account(c, "acme");
  store::PgDeviceStore s(c, lease(c, "pod-a"));
  const auto d = client::DeviceKeys::generate();
  s.save_device(d);
  const std::string jid = "15550001:7@s.whatsapp.net";
  s.save_device(paired(d, jid));

  auto other = db.connect("pod b");
  const auto newer = store::begin_lease(other, "acme", "pod-b").epoch;  // the fence lands in between
  CHECK_THROWS_AS(s.set_paired(jid), client::StoreFenced);

  const auto after = *store::get_account(c, "acme");
  CHECK_FALSE(after.jid);
  CHECK(after.lock_key == before.lock_key);
  CHECK(after.lease_epoch == newer);
  CHECK(one(c, "SELECT coalesce(jid, 'NULL') FROM wa_devices") == "NULL");
  CHECK(store::pairing_history(c, "acme").empty());
  // The next leader finds an unpaired device and pairs it afresh.
  store::PgDeviceStore next(other, std::make_shared<store::WriteFence>("acme", newer));
  auto loaded = next.load_device();
  REQUIRE(loaded);
  CHECK_FALSE(loaded->paired());
}

TEST_CASE("device store: a pairing refused for its jid stores no device either", "[store][pg]") {
  test::TestDatabase db;
  auto c = db.connect();
  const std::string jid = "15550001:7@s.whatsapp.net";
  store::add_account(c, "acme", std::nullopt);
  store::add_account(c, "other", jid);  // the jid already belongs to another account
  store::PgDeviceStore s(c, lease(c, "pod-a"));
  const auto d = client::DeviceKeys::generate();
  s.save_device(d);
  s.save_device(paired(d, jid));
  CHECK_THROWS_AS(s.set_paired(jid), store::AlreadyExists);
  CHECK_FALSE(store::get_account(c, "acme")->jid);
  CHECK(one(c, "SELECT coalesce(jid, 'NULL') FROM wa_devices") == "NULL");
  // A lock the caller moved must be the key the transaction stores, or nothing is stored.
  store::PgDeviceStore t(c, lease(c, "pod-a"));
  t.save_device(paired(d, "15550002:7@s.whatsapp.net"));
  CHECK_THROWS_AS(t.commit_pairing("15550002:7@s.whatsapp.net", 12345), store::StoreError);
  CHECK_FALSE(store::get_account(c, "acme")->jid);
  CHECK_THROWS_AS(t.set_paired("not a jid"), store::StoreError);
}

TEST_CASE("device store: every write is refused under a stale epoch or a revoked fence", "[store][pg]") {
  test::TestDatabase db;
  auto c = db.connect();
  store::add_account(c, "acme", std::nullopt);
  auto fence = lease(c, "pod-a");
  store::PgDeviceStore s(c, fence);
  s.save_device(client::DeviceKeys::generate());
  s.set_qr("2@ref", std::chrono::system_clock::now() + std::chrono::seconds(60));
  store::begin_lease(c, "acme", "pod-b");
  CHECK_THROWS_AS(s.save_device(client::DeviceKeys::generate()), client::StoreFenced);
  CHECK_THROWS_AS(s.mark_pre_keys_uploaded(5), client::StoreFenced);
  CHECK_THROWS_AS(s.clear_qr(), client::StoreFenced);
  CHECK_THROWS_AS(s.report_connected(false), client::StoreFenced);
  CHECK_THROWS_AS(s.report_disconnected(core::DisconnectReason::logged_out, "401"), client::StoreFenced);
  CHECK_THROWS_AS(s.report_disconnected(core::DisconnectReason::timeout, "ping"), client::StoreFenced);
  CHECK_THROWS_AS(s.report_activity(), client::StoreFenced);
  CHECK(one(c, "SELECT qr_code || ' ' || status FROM wa_accounts") == "2@ref qr_scanning");
  CHECK(one(c, "SELECT usable FROM wa_devices") == "t");
}

TEST_CASE("pg array parameters carry any text, bytes, integers and booleans", "[store][pg]") {
  test::TestDatabase db;
  auto c = db.connect();
  const std::vector<std::string> texts{"plain", "with \"quotes\"", "back\\slash", "{braces},comma", "",
                                       "NULL"};
  auto r =
      c.exec("test: unnest text[]", "SELECT t FROM unnest($1::text[]) WITH ORDINALITY AS u(t, n) ORDER BY n",
             {pg::Param::array(texts)});
  REQUIRE(r.rows() == static_cast<int>(texts.size()));
  for (int i = 0; i < r.rows(); ++i) {
    CHECK_FALSE(r.is_null(i, 0));
    CHECK(r.text(i, 0) == texts[static_cast<std::size_t>(i)]);
  }
  const std::vector<std::vector<std::uint8_t>> blobs{{0x00, 0xff, 0x5c, 0x22}, {}, {0x7b, 0x7d, 0x2c}};
  auto b = c.exec("test: unnest bytea[]",
                  "SELECT b FROM unnest($1::bytea[]) WITH ORDINALITY AS u(b, n) ORDER BY n",
                  {pg::Param::bytea_array(blobs)});
  REQUIRE(b.rows() == 3);
  for (int i = 0; i < 3; ++i) CHECK(b.bytes(i, 0) == blobs[static_cast<std::size_t>(i)]);
  auto n = c.exec("test: integer[] and boolean[]",
                  "SELECT sum(x), count(*) FILTER (WHERE y) FROM"
                  " unnest($1::bigint[], $2::boolean[]) AS u(x, y)",
                  {pg::Param::array(std::vector<std::int64_t>{-5, 0, 9007199254740993}),
                   pg::Param::bool_array({true, false, true})});
  CHECK(n.text(0, 0) == "9007199254740988");
  CHECK(n.text(0, 1) == "2");
  CHECK(c.exec("test: empty array", "SELECT cardinality($1::text[])",
               {pg::Param::array(std::vector<std::string>{})})
            .text(0, 0) == "0");
}
