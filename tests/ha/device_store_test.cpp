// ha::LeasedDeviceStore against a real database: what the client stores survives a pod change,
// every write is refused once the lease is gone (revoked locally, stale epoch, stale deadline),
// and pairing commits device keys, jid and lock key together inside the lock move.
#include <future>
#include <thread>

#include <catch2/catch.hpp>

#include "core/client/device.h"
#include "ha/leased_device_store.h"
#include "store/accounts.h"
#include "support.h"

using namespace std::chrono_literals;
using wa::hatest::TestDb;

namespace {

struct Lease {
  std::shared_ptr<wa::store::WriteFence> fence;
  std::unique_ptr<wa::ha::LeasedDeviceStore> store;
};

Lease lease(const TestDb& db, const std::string& pod, std::function<bool()> fresh = {},
            wa::ha::LockMover move_lock = {}, std::shared_ptr<wa::ha::ActivityBatch> activity = {}) {
  auto c = db.connect("begin lease");
  const auto l = wa::store::begin_lease(c, "acme", pod);
  Lease out;
  out.fence = std::make_shared<wa::store::WriteFence>("acme", l.epoch);
  wa::ha::LeasedDeviceStoreOptions o;
  o.database_url = db.url();
  o.pod = pod;
  o.lease_fresh = std::move(fresh);
  o.move_lock = std::move(move_lock);
  o.activity = std::move(activity);
  out.store = std::make_unique<wa::ha::LeasedDeviceStore>(o, "acme", out.fence);
  return out;
}

std::string one(const TestDb& db, const char* sql) {
  auto c = db.connect("read");
  auto r = c.exec("read", sql);
  REQUIRE(r.rows() == 1);
  return r.is_null(0, 0) ? std::string("NULL") : std::string(r.text(0, 0));
}

}  // namespace

TEST_CASE("device store: activity goes into the pod's batch - one fenced statement writes every stamp",
          "[ha][pg]") {
  TestDb db;
  db.add_account("acme");
  auto batch = std::make_shared<wa::ha::ActivityBatch>();
  bool fresh = true;
  auto a = lease(db, "pod-a", [&] { return fresh; }, {}, batch);
  {
    auto c = db.connect("reset");
    c.exec("reset", "UPDATE wa_accounts SET last_activity_at = NULL");
  }
  a.store->report_activity();
  a.store->report_activity();
  // Noted, not written: no statement per account (issue 10).
  CHECK(one(db, "SELECT last_activity_at IS NULL FROM wa_accounts") == "t");
  auto stamps = batch->take();
  REQUIRE(stamps.size() == 1);
  CHECK(stamps[0].business_id == "acme");
  CHECK(stamps[0].epoch == a.fence->epoch());
  CHECK(batch->take().empty());
  // A failed write puts the stamps back for the next beat.
  batch->restore(stamps);
  stamps = batch->take();
  REQUIRE(stamps.size() == 1);
  {
    auto c = db.connect("write the batch");
    CHECK(wa::store::touch_activity_batch(c, stamps) == 1);
  }
  CHECK(one(db, "SELECT last_activity_at IS NOT NULL FROM wa_accounts") == "t");
  // A stale lease is refused like any write, before anything is noted.
  fresh = false;
  CHECK_THROWS_AS(a.store->report_activity(), wa::client::StoreFenced);
  CHECK(batch->take().empty());
  // The next lease's epoch: the old lease's stamp lands nowhere.
  auto b = lease(db, "pod-b");
  {
    auto c = db.connect("stale stamp");
    CHECK(wa::store::touch_activity_batch(c, stamps) == 0);
  }
}

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

namespace {

// The elector's move_lock as far as the store sees it: the commit runs on another thread (the
// elector's), `before_commit` first (what happens meanwhile); a throwing commit is rethrown.
struct FakeMover {
  std::function<void()> before_commit;
  bool can_move = true;
  std::int64_t moved_to = 0;
  int commits = 0;
  wa::ha::LockMover mover() {
    return [this](const std::string&, std::int64_t key, std::function<void()> commit, std::function<bool()>) {
      if (!can_move) return false;
      moved_to = key;
      std::thread([&] {
        if (before_commit) before_commit();
      }).join();
      ++commits;
      auto done = std::async(std::launch::async, commit);
      done.get();
      return true;
    };
  }
};

wa::client::DeviceKeys paired(wa::client::DeviceKeys d, const std::string& jid) {
  d.jid = jid;
  d.account = {9, 9, 9};
  return d;
}

}  // namespace

TEST_CASE("device store: pairing commits device, jid and lock key inside the lock move", "[ha][pg]") {
  TestDb db;
  db.add_account("acme");
  FakeMover m;
  auto a = lease(db, "pod-a", {}, m.mover());
  const auto d = wa::client::DeviceKeys::generate();
  a.store->save_device(d);
  const std::string jid = "15550001:7@s.whatsapp.net";
  a.store->save_device(paired(d, jid));  // what the client does on pair-success...
  CHECK(one(db, "SELECT coalesce(jid, 'NULL') FROM wa_devices") == "NULL");
  a.store->set_paired(jid);  // ...then this
  CHECK(m.commits == 1);
  CHECK(std::to_string(m.moved_to) == one(db, "SELECT hashtext('15550001:7@s.whatsapp.net')"));
  CHECK(one(db, "SELECT jid || ' ' || status || ' ' || lock_key FROM wa_accounts") ==
        jid + " authenticated " + std::to_string(m.moved_to));
  CHECK(one(db, "SELECT jid FROM wa_devices") == jid);
  auto b = lease(db, "pod-b");
  auto loaded = b.store->load_device();
  REQUIRE(loaded);
  CHECK(loaded->jid == jid);
  CHECK(loaded->account == std::vector<std::uint8_t>{9, 9, 9});
}

TEST_CASE("device store: a fence between pair-success and the lock move's commit leaves no half-paired account",
          "[ha][pg]") {
  TestDb db;
  db.add_account("acme");
  const auto pair_key = one(db, "SELECT lock_key FROM wa_accounts");
  FakeMover m;
  auto a = lease(db, "pod-a", {}, m.mover());
  const auto d = wa::client::DeviceKeys::generate();
  a.store->save_device(d);
  const std::string jid = "15550001:7@s.whatsapp.net";
  a.store->save_device(paired(d, jid));
  m.before_commit = [&] {
    auto c = db.connect("pod b");
    wa::store::begin_lease(c, "acme", "pod-b");  // the lock session died; pod-b leads now
  };
  CHECK_THROWS_AS(a.store->set_paired(jid), wa::client::StoreFenced);
  CHECK(m.commits == 1);
  CHECK(one(db, "SELECT coalesce(jid, 'NULL') || ' ' || lock_key || ' ' || assigned_pod FROM wa_accounts") ==
        "NULL " + pair_key + " pod-b");
  CHECK(one(db, "SELECT coalesce(jid, 'NULL') FROM wa_devices") == "NULL");

  // The lock could not be moved (not leading any more, or the key is held elsewhere): nothing.
  FakeMover stuck;
  stuck.can_move = false;
  auto c = lease(db, "pod-c", {}, stuck.mover());
  c.store->save_device(paired(d, jid));
  CHECK_THROWS_AS(c.store->set_paired(jid), wa::client::StoreFenced);
  CHECK(stuck.commits == 0);
  CHECK(one(db, "SELECT coalesce(jid, 'NULL') FROM wa_accounts") == "NULL");
  CHECK(one(db, "SELECT coalesce(jid, 'NULL') FROM wa_devices") == "NULL");
}

TEST_CASE("device store: the next lease repairs an account an older version left half paired", "[ha][pg]") {
  TestDb db;
  db.add_account("acme");
  const std::string jid = "15550001:7@s.whatsapp.net";
  {
    auto a = lease(db, "pod-a");
    a.store->save_device(wa::client::DeviceKeys::generate());
  }
  // What the old two-commit pairing left when fenced between its commits: the device paired,
  // the account without jid and on its 'pair:' key.
  auto c = db.connect("test");
  c.exec("test: half paired", "UPDATE wa_devices SET jid = $1", {jid});
  FakeMover m;
  auto b = lease(db, "pod-b", {}, m.mover());
  auto d = b.store->load_device();
  REQUIRE(d);
  CHECK(d->jid == jid);
  CHECK(m.commits == 1);
  CHECK(std::to_string(m.moved_to) == one(db, "SELECT hashtext('15550001:7@s.whatsapp.net')"));
  CHECK(one(db, "SELECT jid || ' ' || lock_key FROM wa_accounts WHERE business_id = 'acme'") ==
        jid + " " + std::to_string(m.moved_to));
  // Consistent now: the next load moves nothing.
  CHECK(b.store->load_device()->jid == jid);
  CHECK(m.commits == 1);
}
