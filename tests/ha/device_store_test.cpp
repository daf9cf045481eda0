// ha::PgDeviceStore against a real database: what the client stores survives a pod change, and
// every write is refused once the lease is gone (revoked locally, stale epoch, stale deadline).
#include <catch2/catch.hpp>

#include "core/client/device.h"
#include "ha/pg_device_store.h"
#include "store/accounts.h"
#include "support.h"

using namespace std::chrono_literals;
using wa::hatest::TestDb;

namespace {

struct Lease {
  std::shared_ptr<wa::store::WriteFence> fence;
  std::unique_ptr<wa::ha::PgDeviceStore> store;
};

Lease lease(const TestDb& db, const std::string& pod, std::function<bool()> fresh = {}) {
  auto c = db.connect("begin lease");
  const auto l = wa::store::begin_lease(c, "acme", pod);
  Lease out;
  out.fence = std::make_shared<wa::store::WriteFence>("acme", l.epoch);
  wa::ha::PgDeviceStoreOptions o;
  o.database_url = db.url();
  o.pod = pod;
  o.lease_fresh = std::move(fresh);
  out.store = std::make_unique<wa::ha::PgDeviceStore>(o, "acme", out.fence);
  return out;
}

std::string one(const TestDb& db, const char* sql) {
  auto c = db.connect("read");
  auto r = c.exec("read", sql);
  REQUIRE(r.rows() == 1);
  return r.is_null(0, 0) ? std::string("NULL") : std::string(r.text(0, 0));
}

}  // namespace

TEST_CASE("device store: keys and pre-keys written by one leader are loaded by the next", "[ha][pg]") {
  TestDb db;
  db.add_account("acme");
  auto a = lease(db, "pod-a");
  CHECK_FALSE(a.store->load_device().has_value());
  auto d = wa::client::DeviceKeys::generate();
  a.store->save_device(d);
  CHECK(a.store->next_pre_key_id() == 1);
  std::vector<wa::client::PreKey> keys;
  for (std::uint32_t i = 1; i <= 5; ++i) keys.push_back({i, wa::crypto::KeyPair::generate(), false});
  a.store->save_pre_keys(keys);
  CHECK(a.store->next_pre_key_id() == 6);
  a.store->mark_pre_keys_uploaded(3);
  CHECK(a.store->uploaded_pre_key_count() == 3);

  auto b = lease(db, "pod-b");
  auto loaded = b.store->load_device();
  REQUIRE(loaded.has_value());
  CHECK(loaded->noise_key.priv == d.noise_key.priv);
  CHECK(loaded->noise_key.pub == d.noise_key.pub);
  CHECK(loaded->identity_key.pub == d.identity_key.pub);
  CHECK(loaded->signed_pre_key.pair.pub == d.signed_pre_key.pair.pub);
  CHECK(loaded->signed_pre_key.signature == d.signed_pre_key.signature);
  CHECK(loaded->registration_id == d.registration_id);
  CHECK(loaded->adv_secret == d.adv_secret);
  CHECK_FALSE(loaded->paired());
  const auto pending = b.store->unuploaded_pre_keys(10);
  REQUIRE(pending.size() == 2);
  CHECK(pending[0].id == 4);
  CHECK(pending[0].pair.pub == keys[3].pair.pub);

  // The old leader's writes are refused by the database (epoch moved).
  CHECK_THROWS_AS(a.store->save_device(d), wa::client::StoreFenced);
  CHECK_THROWS_AS(a.store->report_activity(), wa::client::StoreFenced);
}

TEST_CASE("device store: QR for every pod, pairing sets the jid and its lock key, connection facts", "[ha][pg]") {
  TestDb db;
  db.add_account("acme");
  auto a = lease(db, "pod-a");
  a.store->save_device(wa::client::DeviceKeys::generate());
  a.store->set_qr("2@ref,noise,identity,adv,1", std::chrono::system_clock::now() + 60s);
  CHECK(one(db, "SELECT status FROM wa_accounts") == "qr_scanning");
  CHECK(one(db, "SELECT qr_code FROM wa_accounts") == "2@ref,noise,identity,adv,1");
  CHECK(one(db, "SELECT qr_expires_at > now() FROM wa_accounts") == "t");
  a.store->clear_qr();
  CHECK(one(db, "SELECT qr_code FROM wa_accounts") == "NULL");

  a.store->set_paired("15550001:7@s.whatsapp.net");  // no elector: stored directly
  CHECK(one(db, "SELECT jid FROM wa_accounts") == "15550001:7@s.whatsapp.net");
  CHECK(one(db, "SELECT lock_key = hashtext('15550001:7@s.whatsapp.net') FROM wa_accounts") == "t");
  CHECK_THROWS(a.store->set_paired("not a jid"));

  a.store->report_connected(false);
  CHECK(one(db, "SELECT status || ' ' || session_restore_count FROM wa_accounts") == "connected 0");
  a.store->report_connected(true);
  CHECK(one(db, "SELECT session_restore_count FROM wa_accounts") == "1");
  a.store->report_disconnected(wa::core::DisconnectReason::replaced, "conflict replaced");
  CHECK(one(db, "SELECT status || ' ' || disconnect_reason || ' ' || health_score FROM wa_accounts") ==
        "disconnected replaced 20");
  a.store->report_disconnected(wa::core::DisconnectReason::logged_out, "401");
  CHECK(one(db, "SELECT status || ' ' || health_score FROM wa_accounts") == "logged_out 0");
  CHECK(one(db, "SELECT usable FROM wa_devices") == "f");
  // Unusable credentials are never loaded again: the next pairing starts from fresh keys.
  CHECK_FALSE(a.store->load_device().has_value());
}

TEST_CASE("device store: a revoked fence or a passed lease deadline refuses writes without the database", "[ha][pg]") {
  TestDb db;
  db.add_account("acme");
  bool fresh = true;
  auto a = lease(db, "pod-a", [&] { return fresh; });
  a.store->save_device(wa::client::DeviceKeys::generate());
  fresh = false;
  CHECK_THROWS_AS(a.store->report_activity(), wa::client::StoreFenced);
  fresh = true;
  a.fence->revoke();
  CHECK_THROWS_AS(a.store->set_qr("x", std::chrono::system_clock::now()), wa::client::StoreFenced);
  CHECK(one(db, "SELECT qr_code FROM wa_accounts") == "NULL");
}
