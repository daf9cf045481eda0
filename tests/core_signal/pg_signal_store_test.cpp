// store::PgSignalStore against PostgreSQL: a device whose Signal state lives in the 0006 tables talks
// to an in-memory peer; a new leader (new connection, new epoch) continues the same sessions; a
// stale leader's writes are refused as client::StoreFenced; transaction() makes a decryption atomic.
#include <catch2/catch.hpp>

#include "core/client/device_store.h"
#include "core/client/message_content.h"
#include "core/client/message_decrypt.h"
#include "core/signal/group_cipher.h"
#include "core/signal/padding.h"
#include "core/signal/session_cipher.h"
#include "store/accounts.h"
#include "store/inbox.h"
#include "store/signal_store.h"
#include "tests/core_signal/party.h"
#include "tests/store/test_db.h"

using namespace wa;
using namespace wa::signal;

namespace {

const std::string kBiz = "acme";
const std::string kOurJid = "15550009999:4@s.whatsapp.net";

// The account, its device row (what pairing leaves behind) and pre-keys 1..3.
test::MemorySignalStore seed(pg::Connection& c) {
  store::add_account(c, kBiz, std::nullopt);
  auto keys = test::MemorySignalStore::generate(3);
  auto noise = crypto::KeyPair::generate();
  crypto::Bytes adv(32, 7);
  c.exec("seed device",
         "INSERT INTO wa_devices (business_id, noise_priv, identity_priv, signed_pre_key_id, "
         "signed_pre_key_priv,"
         " signed_pre_key_sig, registration_id, adv_secret, jid) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
         {kBiz, pg::Param::bytes({noise.priv.begin(), noise.priv.end()}),
          pg::Param::bytes({keys.local.identity.priv.begin(), keys.local.identity.priv.end()}),
          static_cast<std::int64_t>(keys.signed_pre_key.id),
          pg::Param::bytes({keys.signed_pre_key.pair.priv.begin(), keys.signed_pre_key.pair.priv.end()}),
          pg::Param::bytes(keys.signed_pre_key.signature),
          static_cast<std::int64_t>(keys.local.registration_id), pg::Param::bytes(adv), kOurJid});
  for (const auto& [id, pair] : keys.pre_keys)
    c.exec("seed pre-key",
           "INSERT INTO wa_device_pre_keys (business_id, key_id, priv, uploaded) VALUES ($1, $2, $3, true)",
           {kBiz, static_cast<std::int64_t>(id), pg::Param::bytes({pair.priv.begin(), pair.priv.end()})});
  return keys;
}

// One leader: its own connection, lease epoch, store and libsignal context.
struct Leader {
  Leader(const test::TestDatabase& db, const std::string& pod)
      : conn(db.connect("leader")),
        fence(std::make_shared<store::WriteFence>(kBiz, store::begin_lease(conn, kBiz, pod).epoch)),
        pg(conn, fence, kOurJid),
        proto(ctx, pg.stores(), [this](const IdentityChange& c) { changes.push_back(c); }) {}
  pg::Connection conn;
  std::shared_ptr<store::WriteFence> fence;
  store::PgSignalStore pg;
  crypto::SignalContext ctx;
  std::vector<IdentityChange> changes;
  ProtocolStore proto;
};

std::int64_t count(pg::Connection& c, const char* sql) {
  auto r = c.exec("count", sql);
  return r.i64(0, 0);
}

Bytes text(std::string_view s) {
  return pad(crypto::to_bytes(s));
}
std::string open(ByteView padded) {
  return crypto::to_string(unpad(padded));
}

}  // namespace

TEST_CASE("sessions in PostgreSQL survive a leader change", "[pg][signal]") {
  test::TestDatabase db;
  auto admin = db.connect("admin");
  auto keys = seed(admin);
  const Address us{"15550009999", 4};
  test::Party peer(Address{"100000000000001_1", 2});

  auto a = std::make_unique<Leader>(db, "pod-a");
  CHECK(a->pg.local_identity().identity.pub == keys.local.identity.pub);

  // The peer fetched our bundle (pre-key 2) and opens with a pkmsg.
  PreKeyBundle bundle{keys.local.registration_id,    keys.local.identity.pub,
                      keys.signed_pre_key.id,        keys.signed_pre_key.pair.pub,
                      keys.signed_pre_key.signature, PreKeyBundle::OneTime{2, keys.pre_keys.at(2).pub}};
  process_bundle(peer.proto, us, bundle);
  auto p = encrypt(peer.proto, us, text("hello connector"));
  REQUIRE(p.type == CiphertextType::pkmsg);
  CHECK(open(decrypt(a->proto, peer.addr, p.type, p.data)) == "hello connector");
  CHECK(count(admin, "SELECT count(*) FROM wa_device_pre_keys WHERE key_id = 2") == 0);
  CHECK(count(admin, "SELECT count(*) FROM wa_device_pre_keys") == 2);
  CHECK(count(admin, "SELECT count(*) FROM wa_signal_sessions WHERE their_id = '100000000000001_1:2'") == 1);
  CHECK(count(admin, "SELECT count(*) FROM wa_signal_identities WHERE their_id = '100000000000001_1:2'") ==
        1);

  auto r = encrypt(a->proto, peer.addr, text("hi peer"));
  CHECK(r.type == CiphertextType::msg);
  CHECK(open(decrypt(peer.proto, us, r.type, r.data)) == "hi peer");

  // Group: the peer's sender key, stored by leader A.
  SenderKeyName group{"120363000000000001@g.us", peer.addr};
  process_sender_key_distribution(a->proto, group, create_sender_key_distribution(peer.proto, group));
  auto g1 = group_encrypt(peer.proto, group, text("group one"));
  CHECK(open(group_decrypt(a->proto, group, g1)) == "group one");

  // Failover: leader B takes over with a new epoch and continues the same ratchets, no pkmsg.
  auto m = encrypt(peer.proto, us, text("during failover"));
  auto g2 = group_encrypt(peer.proto, group, text("group two"));
  auto b = std::make_unique<Leader>(db, "pod-b");
  CHECK(b->fence->epoch() > a->fence->epoch());
  CHECK(open(decrypt(b->proto, peer.addr, m.type, m.data)) == "during failover");
  CHECK(open(group_decrypt(b->proto, group, g2)) == "group two");
  auto r2 = encrypt(b->proto, peer.addr, text("from the new leader"));
  CHECK(r2.type == CiphertextType::msg);
  CHECK(open(decrypt(peer.proto, us, r2.type, r2.data)) == "from the new leader");

  // The old leader is fenced: its writes are refused, nothing changes.
  auto m2 = encrypt(peer.proto, us, text("late for A"));
  auto before = count(admin, "SELECT count(*) FROM wa_signal_sessions");
  auto session_before = b->pg.load_session(peer.addr);
  CHECK_THROWS_AS(decrypt(a->proto, peer.addr, m2.type, m2.data), client::StoreFenced);
  CHECK(b->pg.load_session(peer.addr) == session_before);
  CHECK(count(admin, "SELECT count(*) FROM wa_signal_sessions") == before);
  CHECK(open(decrypt(b->proto, peer.addr, m2.type, m2.data)) == "late for A");

  // Revoking locally refuses at once.
  b->fence->revoke();
  CHECK_THROWS_AS(encrypt(b->proto, peer.addr, text("x")), client::StoreFenced);
}

TEST_CASE("a decryption inside transaction() commits all or nothing", "[pg][signal]") {
  test::TestDatabase db;
  auto admin = db.connect("admin");
  auto keys = seed(admin);
  const Address us{"15550009999", 4};
  test::Party peer(Address{"15550001111", 0});
  Leader a(db, "pod-a");
  PreKeyBundle bundle{keys.local.registration_id,    keys.local.identity.pub,
                      keys.signed_pre_key.id,        keys.signed_pre_key.pair.pub,
                      keys.signed_pre_key.signature, PreKeyBundle::OneTime{1, keys.pre_keys.at(1).pub}};
  process_bundle(peer.proto, us, bundle);
  auto p = encrypt(peer.proto, us, text("atomic"));
  // A stand-in for the inbox row: a table the hook writes to inside the same transaction.
  admin.exec_simple("inbox stand-in", "CREATE TABLE test_inbox (plaintext BYTEA NOT NULL)");

  SECTION("the hook fails after the inbox write: everything rolls back") {
    CHECK_THROWS_WITH(a.pg.transaction("decrypt and store",
                                       [&](pg::Connection& tx) {
                                         decrypt(a.proto, peer.addr, p.type, p.data, [&](ByteView plain) {
                                           tx.exec("inbox", "INSERT INTO test_inbox VALUES ($1)",
                                                   {pg::Param::bytes({plain.begin(), plain.end()})});
                                           throw std::runtime_error("app refused");
                                         });
                                       }),
                      "app refused");
    CHECK(count(admin, "SELECT count(*) FROM test_inbox") == 0);
    CHECK(count(admin, "SELECT count(*) FROM wa_signal_sessions") == 0);
    CHECK(count(admin, "SELECT count(*) FROM wa_signal_identities") == 0);
    CHECK(count(admin, "SELECT count(*) FROM wa_device_pre_keys WHERE key_id = 1") == 1);
  }
  SECTION("a failure after libsignal stored the session also rolls it back") {
    CHECK_THROWS_WITH(a.pg.transaction("decrypt and store",
                                       [&](pg::Connection&) {
                                         decrypt(a.proto, peer.addr, p.type, p.data);
                                         throw std::runtime_error("crash before commit");
                                       }),
                      "crash before commit");
    CHECK(count(admin, "SELECT count(*) FROM wa_signal_sessions") == 0);
    CHECK(count(admin, "SELECT count(*) FROM wa_device_pre_keys WHERE key_id = 1") == 1);
  }
  SECTION("the epoch moved: refused before anything is written") {
    Leader b(db, "pod-b");
    CHECK_THROWS_AS(a.pg.transaction("decrypt and store",
                                     [&](pg::Connection&) { decrypt(a.proto, peer.addr, p.type, p.data); }),
                    client::StoreFenced);
    CHECK(count(admin, "SELECT count(*) FROM wa_signal_sessions") == 0);
  }
  // Whatever happened above, the message still decrypts exactly once afterwards.
  Leader c(db, "pod-c");
  std::string seen;
  c.pg.transaction("decrypt and store", [&](pg::Connection& tx) {
    auto plain = decrypt(c.proto, peer.addr, p.type, p.data, [&](ByteView pt) {
      tx.exec("inbox", "INSERT INTO test_inbox VALUES ($1)", {pg::Param::bytes({pt.begin(), pt.end()})});
    });
    seen = open(plain);
  });
  CHECK(seen == "atomic");
  CHECK(count(admin, "SELECT count(*) FROM test_inbox") == 1);
  CHECK(count(admin, "SELECT count(*) FROM wa_signal_sessions") == 1);
  CHECK(count(admin, "SELECT count(*) FROM wa_device_pre_keys WHERE key_id = 1") == 0);
  CHECK_THROWS_AS(decrypt(c.proto, peer.addr, p.type, p.data), SignalError);
}

TEST_CASE("PgSignalStore role operations", "[pg][signal]") {
  test::TestDatabase db;
  auto admin = db.connect("admin");
  auto keys = seed(admin);
  Leader a(db, "pod-a");
  auto& s = a.pg;

  SECTION("sessions by address, with '_' in names not acting as a wildcard") {
    s.store_session(Address{"123_1", 0}, Bytes{1});
    s.store_session(Address{"123_1", 3}, Bytes{2});
    s.store_session(Address{"12301", 5}, Bytes{3});  // would match LIKE '123_1:%'
    s.store_session(Address{"123_1", 1}, Bytes{4});
    CHECK(s.load_session(Address{"123_1", 3}) == Bytes{2});
    s.store_session(Address{"123_1", 3}, Bytes{9});
    CHECK(s.load_session(Address{"123_1", 3}) == Bytes{9});
    CHECK(s.contains_session(Address{"123_1", 0}));
    CHECK_FALSE(s.contains_session(Address{"123_1", 7}));
    CHECK(s.sub_device_sessions("123_1") == std::vector<std::uint32_t>{0, 3});
    CHECK(s.delete_session(Address{"123_1", 0}));
    CHECK_FALSE(s.delete_session(Address{"123_1", 0}));
    CHECK(s.delete_all_sessions("123_1") == 2);
    CHECK(s.load_session(Address{"12301", 5}) == Bytes{3});
  }
  SECTION("identities, pre-keys, signed pre-key, sender keys") {
    Key32 k{};
    k[0] = 9;
    CHECK_FALSE(s.load_identity(Address{"1", 0}));
    s.save_identity(Address{"1", 0}, k);
    CHECK(s.load_identity(Address{"1", 0}) == k);
    s.delete_identity(Address{"1", 0});
    CHECK_FALSE(s.load_identity(Address{"1", 0}));

    CHECK(s.load_pre_key(3)->pub == keys.pre_keys.at(3).pub);
    CHECK_FALSE(s.load_pre_key(4));
    s.remove_pre_key(3);
    CHECK_FALSE(s.load_pre_key(3));

    auto spk = s.load_signed_pre_key(keys.signed_pre_key.id);
    REQUIRE(spk);
    CHECK(spk->pair.pub == keys.signed_pre_key.pair.pub);
    CHECK(spk->signature == keys.signed_pre_key.signature);
    CHECK_FALSE(s.load_signed_pre_key(keys.signed_pre_key.id + 1));
    CHECK(s.local_identity().registration_id == keys.local.registration_id);

    SenderKeyName n{"g@g.us", Address{"1", 2}};
    CHECK_FALSE(s.load_sender_key(n));
    s.store_sender_key(n, Bytes{5, 6});
    s.store_sender_key(n, Bytes{7});
    CHECK(s.load_sender_key(n) == Bytes{7});
    CHECK_FALSE(s.load_sender_key(SenderKeyName{"h@g.us", Address{"1", 2}}));
  }
  SECTION("state of another device JID (an earlier pairing) is not visible") {
    s.store_session(Address{"1", 0}, Bytes{1});
    store::PgSignalStore other(a.conn, a.fence, "15550009999:5@s.whatsapp.net");
    CHECK_FALSE(other.load_session(Address{"1", 0}));
  }
  SECTION("deleting the device deletes its Signal state") {
    s.store_session(Address{"1", 0}, Bytes{1});
    s.save_identity(Address{"1", 0}, Key32{});
    s.store_sender_key(SenderKeyName{"g@g.us", Address{"1", 0}}, Bytes{1});
    admin.exec("delete device", "DELETE FROM wa_devices WHERE business_id = $1", {kBiz});
    CHECK(
        count(admin,
              "SELECT (SELECT count(*) FROM wa_signal_sessions) + (SELECT count(*) FROM wa_signal_identities)"
              " + (SELECT count(*) FROM wa_signal_sender_keys)") == 0);
  }
}

TEST_CASE("decrypt_message in one transaction: a redelivery after a leader change is never a second row",
          "[pg][signal]") {
  test::TestDatabase db;
  auto admin = db.connect("admin");
  auto keys = seed(admin);
  admin.exec_simple("inbox stand-in", "CREATE TABLE test_inbox (id TEXT NOT NULL, text TEXT NOT NULL)");
  const Address us{"15550009999", 4};
  test::Party peer(Address{"15550001111", 0});
  PreKeyBundle bundle{keys.local.registration_id,    keys.local.identity.pub,
                      keys.signed_pre_key.id,        keys.signed_pre_key.pair.pub,
                      keys.signed_pre_key.signature, PreKeyBundle::OneTime{3, keys.pre_keys.at(3).pub}};
  process_bundle(peer.proto, us, bundle);
  auto c = encrypt(peer.proto, us, pad(client::encode_text_message("exactly once")));
  client::MessageInfo info;
  info.id = "3EB0ONCE";
  info.from = info.sender = *binary::Jid::parse("15550001111:0@s.whatsapp.net");
  info.chat = info.from.to_non_ad();
  info.encs.push_back(
      client::EncPayload{client::EncType::pkmsg, "pkmsg", 2, c.data, std::nullopt, "", false});

  auto receive = [&](Leader& l) {
    client::MessageDecryptResult r;
    l.pg.transaction("receive message", [&](pg::Connection& tx) {
      r = client::decrypt_message(l.proto, info,
                                  [&](const client::EncPayload&, const client::MessageContent& m) {
                                    tx.exec("inbox", "INSERT INTO test_inbox (id, text) VALUES ($1, $2)",
                                            {info.id, m.text.value_or("")});
                                  });
    });
    return r;
  };
  {
    Leader a(db, "pod-a");
    auto r = receive(a);
    REQUIRE(r.content());
    CHECK(r.content()->text == "exactly once");
    // pod-a dies here, before its ack reached the server.
  }
  Leader b(db, "pod-b");
  auto again = receive(b);  // the server redelivers to the new leader
  CHECK(again.encs[0].outcome == client::EncOutcome::duplicate);
  CHECK_FALSE(again.needs_retry());
  CHECK(count(admin, "SELECT count(*) FROM test_inbox") == 1);
}

TEST_CASE(
    "the real inbox: decrypt + wa_inbox row in one transaction - a redelivery is found by hash, not "
    "decrypted",
    "[pg][signal][inbox]") {
  test::TestDatabase db;
  auto admin = db.connect("admin");
  auto keys = seed(admin);
  const Address us{"15550009999", 4};
  test::Party peer(Address{"15550001111", 0});
  PreKeyBundle bundle{keys.local.registration_id,    keys.local.identity.pub,
                      keys.signed_pre_key.id,        keys.signed_pre_key.pair.pub,
                      keys.signed_pre_key.signature, PreKeyBundle::OneTime{3, keys.pre_keys.at(3).pub}};
  process_bundle(peer.proto, us, bundle);
  auto c = encrypt(peer.proto, us, pad(client::encode_text_message("stored once ✓")));
  client::MessageInfo info;
  info.id = "3EB0INBOX";
  info.from = info.sender = *binary::Jid::parse("15550001111:0@s.whatsapp.net");
  info.chat = info.from.to_non_ad();
  info.timestamp = 1790000123;
  info.encs.push_back(
      client::EncPayload{client::EncType::pkmsg, "pkmsg", 2, c.data, std::nullopt, "", false});
  const auto hash = store::ciphertext_hash(c.data.data(), c.data.size());

  int decrypted = 0;
  auto receive = [&](Leader& l) {
    if (store::find_inbox_by_hash(l.conn, kBiz, hash)) return;  // stored already: ack only
    l.pg.transaction("receive message", [&](pg::Connection& tx) {
      client::decrypt_message(l.proto, info, [&](const client::EncPayload&, const client::MessageContent& m) {
        ++decrypted;
        store::InboxMessage row;
        row.id = info.id;
        row.chat = info.chat.to_string();
        row.sender = info.sender.to_string();
        row.text = m.text;
        row.server_ts = info.timestamp;
        row.ciphertext_hash = hash;
        store::insert_inbox(tx, kBiz, row);
      });
    });
  };
  SECTION("the inbox write fails: the session change rolls back with it, and a retry stores it") {
    Leader a(db, "pod-a");
    admin.exec_simple("break the inbox",
                      "ALTER TABLE wa_inbox ADD CONSTRAINT broken CHECK (false) NOT VALID");
    CHECK_THROWS(receive(a));
    CHECK(count(admin, "SELECT count(*) FROM wa_signal_sessions") == 0);
    admin.exec_simple("mend the inbox", "ALTER TABLE wa_inbox DROP CONSTRAINT broken");
    receive(a);
    CHECK(decrypted == 2);  // the rolled-back decryption left the pre-key and session as they were
  }
  SECTION("stored, then the leader dies before acking; the new leader gets the redelivery") {
    {
      Leader a(db, "pod-a");
      receive(a);
    }
    Leader b(db, "pod-b");
    receive(b);
    CHECK(decrypted == 1);
  }
  const auto rows = store::list_inbox(admin, kBiz, 0, 10);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].id == "3EB0INBOX");
  CHECK(rows[0].text == std::optional<std::string>("stored once ✓"));
  CHECK(rows[0].chat == "15550001111@s.whatsapp.net");
  CHECK(rows[0].server_ts == 1790000123);
}
