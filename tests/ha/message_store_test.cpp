// ha::LeasedMessageStore against a real database: a decryption's Signal writes and its inbox row
// commit together or not at all, a redelivery is recognised, the next leader continues the same
// state, every write is refused once the lease is gone (newer epoch, revoked, stale deadline), and
// the outbox and LID map roles work through the same gate.
#include <catch2/catch.hpp>

#include "core/client/device.h"
#include "ha/leased_device_store.h"
#include "ha/leased_message_store.h"
#include "store/accounts.h"
#include "store/outbox.h"
#include "support.h"

using wa::client::StoreFenced;
using wa::hatest::TestDb;

namespace {

const char* kJid = "15550001:7@s.whatsapp.net";

struct Leader {
  std::shared_ptr<wa::store::WriteFence> fence;
  std::unique_ptr<wa::ha::LeasedMessageStore> messages;
};

Leader lead(const TestDb& db, const std::string& pod, std::function<bool()> fresh = {}) {
  auto c = db.connect("begin lease");
  const auto l = wa::store::begin_lease(c, "acme", pod);
  Leader out;
  out.fence = std::make_shared<wa::store::WriteFence>("acme", l.epoch);
  wa::ha::LeasedMessageStoreOptions o;
  o.database_url = db.url();
  o.pod = pod;
  o.lease_fresh = std::move(fresh);
  out.messages = std::make_unique<wa::ha::LeasedMessageStore>(o, "acme", out.fence);
  return out;
}

// A paired device for the account (the Signal state is keyed by its jid).
void pair(const TestDb& db) {
  auto c = db.connect("begin lease");
  const auto l = wa::store::begin_lease(c, "acme", "pairing-pod");
  wa::ha::LeasedDeviceStoreOptions o;
  o.database_url = db.url();
  o.pod = "pairing-pod";
  wa::ha::LeasedDeviceStore devices(o, "acme", std::make_shared<wa::store::WriteFence>("acme", l.epoch));
  auto d = wa::client::DeviceKeys::generate();
  d.jid = kJid;
  devices.save_device(d);
  devices.set_paired(kJid);
}

wa::client::InboxEntry entry(const std::string& id, std::uint8_t hash_byte) {
  wa::client::InboxEntry e;
  e.id = id;
  e.chat = "15550002@s.whatsapp.net";
  e.sender = "15550002@s.whatsapp.net";
  e.text = "hello";
  e.server_ts = 1700000000;
  e.ciphertext_hash = wa::crypto::Bytes(32, hash_byte);
  return e;
}

const wa::signal::Address kAlice{"15550002", 0};

}  // namespace

TEST_CASE(
    "message store: session and inbox row commit together, a redelivery is recognised, the next leader "
    "continues",
    "[ha][pg][messages]") {
  TestDb db;
  db.add_account("acme");
  pair(db);
  auto a = lead(db, "pod-a");
  const wa::crypto::Bytes session{1, 2, 3};
  bool stored = false;
  a.messages->transaction("decrypt", [&] {
    a.messages->signal_stores().sessions.store_session(kAlice, session);
    stored = a.messages->inbox_put(entry("M1", 1));
  });
  CHECK(stored);
  CHECK(a.messages->inbox_contains(wa::crypto::Bytes(32, 1)));
  CHECK_FALSE(a.messages->inbox_contains(wa::crypto::Bytes(32, 2)));
  // The same ciphertext again, or the same message re-encrypted: already stored.
  a.messages->transaction("decrypt", [&] { CHECK_FALSE(a.messages->inbox_put(entry("M1", 1))); });
  a.messages->transaction("decrypt", [&] { CHECK_FALSE(a.messages->inbox_put(entry("M1", 3))); });

  // A body that fails after its writes leaves nothing behind.
  CHECK_THROWS_AS(a.messages->transaction(
                      "decrypt",
                      [&] {
                        a.messages->signal_stores().sessions.store_session(kAlice, wa::crypto::Bytes{9, 9});
                        a.messages->inbox_put(entry("M2", 2));
                        throw std::runtime_error("hook failed");
                      }),
                  std::runtime_error);
  CHECK_FALSE(a.messages->inbox_contains(wa::crypto::Bytes(32, 2)));
  CHECK(a.messages->signal_stores().sessions.load_session(kAlice) == session);

  // Another pod leads now: it sees what pod-a committed, and pod-a can write nothing more.
  auto b = lead(db, "pod-b");
  CHECK(b.messages->signal_stores().sessions.load_session(kAlice) == session);
  CHECK(b.messages->inbox_contains(wa::crypto::Bytes(32, 1)));
  CHECK_THROWS_AS(a.messages->transaction("decrypt",
                                          [&] {
                                            a.messages->signal_stores().sessions.store_session(
                                                kAlice, wa::crypto::Bytes{7});
                                            a.messages->inbox_put(entry("M3", 4));
                                          }),
                  StoreFenced);
  CHECK_THROWS_AS(a.messages->signal_stores().sessions.store_session(kAlice, wa::crypto::Bytes{7}),
                  StoreFenced);
  CHECK_THROWS_AS(a.messages->inbox_put(entry("M3", 4)), StoreFenced);
  CHECK_FALSE(b.messages->inbox_contains(wa::crypto::Bytes(32, 4)));
  CHECK(b.messages->signal_stores().sessions.load_session(kAlice) == session);
  CHECK(b.messages->signal_stores().identities.local_identity().registration_id != 0);
}

TEST_CASE("message store: refused before the database once revoked or past the lease deadline",
          "[ha][pg][messages]") {
  TestDb db;
  db.add_account("acme");
  pair(db);
  bool fresh = true;
  auto a = lead(db, "pod-a", [&] { return fresh; });
  a.messages->put_lid_mapping("209876543210987", "15550002");
  fresh = false;
  CHECK_THROWS_AS(a.messages->put_lid_mapping("209876543210988", "15550003"), StoreFenced);
  CHECK_THROWS_AS(a.messages->transaction("decrypt", [] {}), StoreFenced);
  CHECK_THROWS_AS(a.messages->claim_outbox(5), StoreFenced);
  fresh = true;
  a.fence->revoke();
  CHECK_THROWS_AS(a.messages->signal_stores().pre_keys.remove_pre_key(1), StoreFenced);
  CHECK_THROWS_AS(a.messages->mark_outbox("X", wa::client::OutboxStatus::sent), StoreFenced);
  // Reads still work (e.g. for a status page).
  CHECK(a.messages->pn_for_lid("209876543210987") == "15550002");
  CHECK(a.messages->lid_for_pn("15550003") == std::nullopt);
}

TEST_CASE("message store: LID map keeps one pair per side, outbox claim and forward-only marks",
          "[ha][pg][messages]") {
  TestDb db;
  db.add_account("acme");
  pair(db);
  auto a = lead(db, "pod-a");
  a.messages->put_lid_mapping("209876543210987", "15550002");
  a.messages->put_lid_mapping("209876543210987", "15550002");  // unchanged: no-op
  CHECK(a.messages->lid_for_pn("15550002") == "209876543210987");
  // The number moved to another LID: the old pair is gone.
  a.messages->put_lid_mapping("209876543210999", "15550002");
  CHECK(a.messages->lid_for_pn("15550002") == "209876543210999");
  CHECK(a.messages->pn_for_lid("209876543210987") == std::nullopt);
  CHECK_THROWS(a.messages->put_lid_mapping("not-digits", "15550002"));

  auto c = db.connect("enqueue");
  wa::store::EnqueueRequest req;
  req.business_id = "acme";
  req.recipient = "15550002@s.whatsapp.net";
  req.text = "out";
  const auto queued = wa::store::enqueue(c, req).message;
  auto claimed = a.messages->claim_outbox(10);
  REQUIRE(claimed.size() == 1);
  CHECK(claimed[0].id == queued.id);
  CHECK(claimed[0].recipient == req.recipient);
  CHECK(claimed[0].text == "out");
  CHECK(claimed[0].status == wa::client::OutboxStatus::queued);
  CHECK(claimed[0].attempts == 1);
  CHECK(a.messages->claim_outbox(10).empty());  // claimed under this epoch already
  CHECK(a.messages->mark_outbox(queued.id, wa::client::OutboxStatus::sent));
  CHECK(a.messages->mark_outbox(queued.id, wa::client::OutboxStatus::delivered));
  CHECK_FALSE(a.messages->mark_outbox(queued.id, wa::client::OutboxStatus::sent));  // never back
  auto found = a.messages->find_outbox(queued.id);
  REQUIRE(found);
  CHECK(found->status == wa::client::OutboxStatus::delivered);
  CHECK(a.messages->find_outbox("nope") == std::nullopt);
}

TEST_CASE("message store: a new LID mapping moves the number's Signal sessions and identities to the LID",
          "[ha][pg][messages]") {
  TestDb db;
  db.add_account("acme");
  pair(db);
  auto a = lead(db, "pod-a");
  auto st = a.messages->signal_stores();
  const wa::signal::Address pn0{"15550002", 0}, pn3{"15550002", 3}, other{"15550003", 0};
  const wa::signal::Address lid0{"209876543210987_1", 0}, lid3{"209876543210987_1", 3};
  const wa::crypto::Key32 key{7};
  st.sessions.store_session(pn0, wa::crypto::Bytes{1});
  st.sessions.store_session(pn3, wa::crypto::Bytes{3});
  st.sessions.store_session(lid3, wa::crypto::Bytes{33});  // already under the LID: it wins
  st.sessions.store_session(other, wa::crypto::Bytes{9});
  st.identities.save_identity(pn0, key);
  a.messages->put_lid_mapping("209876543210987", "15550002");
  CHECK(st.sessions.load_session(lid0) == wa::crypto::Bytes{1});
  CHECK(st.sessions.load_session(lid3) == wa::crypto::Bytes{33});
  CHECK(st.sessions.load_session(pn0) == std::nullopt);
  CHECK(st.sessions.load_session(pn3) == std::nullopt);
  CHECK(st.sessions.load_session(other) == wa::crypto::Bytes{9});  // another contact: untouched
  CHECK(st.identities.load_identity(lid0) == key);
  CHECK(st.identities.load_identity(pn0) == std::nullopt);
  // Another leader reads the moved state (it is committed, sealed as before).
  auto b = lead(db, "pod-b");
  CHECK(b.messages->signal_stores().sessions.load_session(lid0) == wa::crypto::Bytes{1});
}
