// Receiving: the pure answers (delivery receipt, NACK, retry receipt, retry numbers, the device
// identity we show) and the whole path in a WaClient against a scripted server: a pkmsg from a
// contact is stored, then receipted and acked; the same stanza again (a redelivery) is answered
// without decrypting; an undecryptable message gets retry receipts, with keys from the second.
#include <catch2/catch.hpp>

#include <algorithm>

#include "core/client/message_content.h"
#include "core/client/message_info.h"
#include "core/client/receipt_send.h"
#include "core/client/retry_receipt.h"
#include "core/client/stanzas.h"
#include "core/client/wa_client.h"
#include "core/crypto/random.h"
#include "core/signal/padding.h"
#include "core/signal/prekey_bundle.h"
#include "core/signal/session_cipher.h"
#include "tests/core_client/memory_message_store.h"
#include "tests/core_client/memory_store.h"
#include "tests/core_client/scripted_server.h"
#include "tests/core_signal/party.h"
#include "wa_adv.pb.h"

using namespace wa::clienttest;
using namespace std::chrono_literals;
using wa::binary::Jid;
using wa::binary::Node;
using wa::binary::NodeList;
using wa::crypto::Bytes;
using Received = ScriptedServer::Received;

namespace {

Node message_stanza(const std::string& id, const std::string& from, const std::string& type, const Bytes& ct,
                    std::optional<int> count = std::nullopt) {
  Node enc{"enc", {{"v", std::string("2")}, {"type", type}}, ct};
  if (count) enc.attrs.push_back({"count", std::to_string(*count)});
  return Node{"message",
              {{"from", *Jid::parse(from)},
               {"id", id},
               {"t", std::string("1700000001")},
               {"type", std::string("text")}},
              NodeList{std::move(enc)}};
}

Bytes account_identity(bool with_key) {
  wa::proto::ADVSignedDeviceIdentity id;
  id.set_details("details");
  if (with_key) id.set_account_signature_key(std::string(32, 'k'));
  id.set_account_signature(std::string(64, 's'));
  id.set_device_signature(std::string(64, 'd'));
  const auto s = id.SerializeAsString();
  return Bytes(s.begin(), s.end());
}

}  // namespace

TEST_CASE(
    "receive: delivery receipt and ack copy the addressing, own copies and peer messages get their type",
    "[client][receive]") {
  auto n = message_stanza("M1", "15550002@s.whatsapp.net", "msg", Bytes{0x33, 1, 2});
  auto info = wa::client::parse_message_info(n);
  auto r = wa::client::delivery_receipt(n, info);
  CHECK(r.tag == "receipt");
  CHECK(r.attr_text("id") == "M1");
  CHECK(r.attr_text("to") == "15550002@s.whatsapp.net");
  CHECK_FALSE(r.attr("type"));
  CHECK_FALSE(r.attr("participant"));

  auto g = n;
  g.attrs = {{"from", *Jid::parse("120363000000000001@g.us")},
             {"participant", *Jid::parse("15550002:3@s.whatsapp.net")},
             {"id", std::string("G1")},
             {"t", std::string("1700000001")}};
  auto gi = wa::client::parse_message_info(g);
  auto gr = wa::client::delivery_receipt(g, gi);
  CHECK(gr.attr_text("to") == "120363000000000001@g.us");
  CHECK(gr.attr_text("participant") == "15550002:3@s.whatsapp.net");

  gi.is_from_me = true;
  CHECK(wa::client::delivery_receipt(g, gi).attr_text("type") == "sender");
  gi.category = "peer";
  CHECK(wa::client::delivery_receipt(g, gi).attr_text("type") == "peer_msg");

  auto ack = wa::client::message_ack(n, wa::client::kNackInvalidProtobuf);
  CHECK(ack.tag == "ack");
  CHECK(ack.attr_text("class") == "message");
  CHECK(ack.attr_text("id") == "M1");
  CHECK(ack.attr_text("error") == "491");
  CHECK_FALSE(wa::client::message_ack(n).attr("error"));
}

TEST_CASE("receive: retry receipt as whatsmeow sends it, keys only when given", "[client][receive]") {
  auto n = message_stanza("M2", "15550002@s.whatsapp.net", "msg", Bytes{0x33, 1, 2});
  auto info = wa::client::parse_message_info(n);
  auto r = wa::client::retry_receipt(n, info, 1, 0x01020304, std::nullopt);
  CHECK(r.attr_text("type") == "retry");
  CHECK(r.attr_text("to") == "15550002@s.whatsapp.net");
  const auto* retry = r.child("retry");
  REQUIRE(retry);
  CHECK(retry->attr_text("count") == "1");
  CHECK(retry->attr_text("id") == "M2");
  CHECK(retry->attr_text("t") == "1700000001");
  CHECK(retry->attr_text("v") == "1");
  REQUIRE(r.child("registration"));
  CHECK(*r.child("registration")->bytes() == Bytes{1, 2, 3, 4});
  CHECK_FALSE(r.child("keys"));

  wa::client::RetryKeys k;
  k.identity_pub.fill(7);
  k.pre_key = wa::client::PreKey{0x010203, wa::crypto::KeyPair::generate(), false};
  k.signed_pre_key.id = 1;
  k.signed_pre_key.pair = wa::crypto::KeyPair::generate();
  k.signed_pre_key.signature = Bytes(64, 9);
  k.device_identity = Bytes{1, 2, 3};
  auto rk = wa::client::retry_receipt(n, info, 2, 5, k);
  const auto* keys = rk.child("keys");
  REQUIRE(keys);
  CHECK(*keys->child("type")->bytes() == Bytes{0x05});
  CHECK(keys->child("identity")->bytes()->size() == 32);
  REQUIRE(keys->child("key"));
  CHECK(*keys->child("key")->child("id")->bytes() == Bytes{1, 2, 3});
  CHECK(keys->child("key")->child("value")->bytes()->size() == 32);
  REQUIRE(keys->child("skey"));
  CHECK(keys->child("skey")->child("signature")->bytes()->size() == 64);
  CHECK(*keys->child("device-identity")->bytes() == Bytes{1, 2, 3});
}

TEST_CASE("receive: retry numbers per message id, seeded from the resend's count, bounded",
          "[client][receive]") {
  wa::client::RetryCounter c(3);
  CHECK(c.next("a", std::nullopt) == 1);
  CHECK(c.next("a", std::nullopt) == 2);
  CHECK(c.next("b", 3) == 4);  // the sender says this is its third resend
  CHECK(c.next("b", 1) == 5);  // never backwards
  c.forget("a");
  CHECK(c.next("a", std::nullopt) == 1);
  CHECK(c.next("c", std::nullopt) == 1);
  CHECK(c.next("d", std::nullopt) == 1);  // over capacity: the oldest ("b") is forgotten
  CHECK(c.size() == 3);
  CHECK(c.next("b", std::nullopt) == 1);
  CHECK(c.next("e", 1000) == wa::client::kMaxRetryCount + 1);  // a hostile count is clamped
}

TEST_CASE("receive: the device identity we show has no account signature key", "[client][receive]") {
  const auto wire = wa::client::device_identity_for_wire(account_identity(true));
  wa::proto::ADVSignedDeviceIdentity id;
  REQUIRE(id.ParseFromArray(wire.data(), static_cast<int>(wire.size())));
  CHECK_FALSE(id.has_account_signature_key());
  CHECK(id.details() == "details");
  CHECK(id.device_signature() == std::string(64, 'd'));
  CHECK_THROWS_AS(wa::client::device_identity_for_wire(Bytes{}), std::invalid_argument);
  CHECK_THROWS_AS(wa::client::device_identity_for_wire(Bytes{0xff, 0xff, 0xff}), std::invalid_argument);
}

namespace {

Node result_for(const Node& in) {
  return Node{"iq",
              {{"from", Jid{"", "s.whatsapp.net", 0, std::nullopt, 0}},
               {"type", std::string("result")},
               {"id", in.attr_text("id").value_or("")}},
              {}};
}

bool is_answer(const Received& r, const std::string& tag, const std::string& id,
               const std::string& type = "") {
  if (r.node.tag != tag || r.node.attr_text("id") != id) return false;
  return type.empty() ? !r.node.attr("type") || tag == "ack" : r.node.attr_text("type") == type;
}

std::size_t count(const std::vector<Received>& rs, const std::string& tag, const std::string& id,
                  const std::string& type = "") {
  return static_cast<std::size_t>(
      std::count_if(rs.begin(), rs.end(), [&](const Received& r) { return is_answer(r, tag, id, type); }));
}

}  // namespace

TEST_CASE(
    "scripted: receive - stored then receipted and acked, a redelivery is not decrypted, failures ask for a "
    "retry",
    "[client][scripted][receive]") {
  ScriptedServer s(
      [](ScriptedServer& srv, std::uint64_t c, const wa::proto::ClientPayload&) {
        srv.send(c, Node{"success", {{"t", std::string("1700000000")}}, {}});
      },
      [](ScriptedServer& srv, std::uint64_t c, const Node& n) {
        if (n.tag != "iq") return;
        if (n.attr_text("xmlns") == "encrypt" && n.attr_text("type") == "get")
          return srv.send(c, Node{"iq",
                                  {{"from", Jid{"", "s.whatsapp.net", 0, std::nullopt, 0}},
                                   {"type", std::string("result")},
                                   {"id", n.attr_text("id").value_or("")}},
                                  NodeList{Node{"count", {{"value", std::string("100")}}, {}}}});
        srv.send(c, result_for(n));
      });
  // Our paired device, and its Signal state as the message store holds it.
  MemoryStore devices;
  auto keys = wa::client::DeviceKeys::generate();
  keys.jid = "15550001:7@s.whatsapp.net";
  keys.account = account_identity(true);
  devices.make()->save_device(keys);
  for (std::uint32_t id = 1; id <= 100; ++id)
    devices.make()->save_pre_keys({wa::client::PreKey{id, wa::crypto::KeyPair::generate(), true}});
  auto data = std::make_shared<MessageData>();
  data->signal.local = {keys.identity_key, keys.registration_id};
  data->signal.signed_pre_key = {keys.signed_pre_key.id, keys.signed_pre_key.pair,
                                 keys.signed_pre_key.signature};
  const auto pre_key = wa::crypto::KeyPair::generate();
  data->signal.pre_keys[1] = pre_key;

  // A contact that starts a session from our bundle.
  wa::test::Party alice(wa::signal::Address{"15550002", 0});
  wa::signal::PreKeyBundle bundle;
  bundle.registration_id = keys.registration_id;
  bundle.identity = keys.identity_key.pub;
  bundle.signed_pre_key_id = keys.signed_pre_key.id;
  bundle.signed_pre_key = keys.signed_pre_key.pair.pub;
  bundle.signed_pre_key_signature = keys.signed_pre_key.signature;
  bundle.pre_key = wa::signal::PreKeyBundle::OneTime{1, pre_key.pub};
  const wa::signal::Address us{"15550001", 7};
  wa::signal::process_bundle(alice.proto, us, bundle);
  const auto ct =
      wa::signal::encrypt(alice.proto, us, wa::signal::pad(wa::client::encode_text_message("hi ✓")));
  REQUIRE(ct.type == wa::signal::CiphertextType::pkmsg);

  wa::client::ClientOptions o;
  o.url = s.url();
  o.trusted_root = s.root();
  o.iq_timeout = 5s;
  std::atomic<int> stored_text{0};
  std::atomic<int> failures{0};
  o.on_message_stored = [&](const std::string& kind, double latency) {
    if (kind == "text" && latency >= 0) ++stored_text;
  };
  o.on_decrypt_failure = [&](const std::string& reason) {
    if (reason == "invalid_message" || reason == "bad_mac" || reason == "no_session" || reason == "other")
      ++failures;
  };
  EventLog log;
  wa::client::WaClient client("biz-recv", o, devices.make(), log.events(), nullptr,
                              std::make_unique<MemoryMessageStore>(data));
  client.start();
  REQUIRE(log.wait_state(wa::core::ConnectionState::logged_in, 10s));
  REQUIRE(s.wait([](const std::vector<Received>& rs) { return !rs.empty(); }, 5s));
  const auto conn = s.received().front().conn;

  const auto m1 = message_stanza("M1", "15550002@s.whatsapp.net", "pkmsg", ct.data);
  s.send(conn, m1);
  REQUIRE(s.wait([](const auto& rs) { return count(rs, "ack", "M1") == 1; }, 5s));
  {
    auto rs = s.received();
    CHECK(count(rs, "receipt", "M1") == 1);
    // The receipt goes out after the row is stored, and before the ack.
    auto receipt =
        std::find_if(rs.begin(), rs.end(), [](const Received& r) { return is_answer(r, "receipt", "M1"); });
    auto ack =
        std::find_if(rs.begin(), rs.end(), [](const Received& r) { return is_answer(r, "ack", "M1"); });
    CHECK(receipt < ack);
    CHECK_FALSE(ack->node.attr("error"));
  }
  auto inbox = data->inbox_copy();
  REQUIRE(inbox.size() == 1);
  CHECK(inbox[0].id == "M1");
  CHECK(inbox[0].text == "hi ✓");
  CHECK(inbox[0].message_type == "text");
  CHECK(inbox[0].chat == "15550002@s.whatsapp.net");
  CHECK(inbox[0].server_ts == 1700000001);
  CHECK(inbox[0].ciphertext_hash.size() == 32);
  CHECK(data->signal.removed_pre_keys == std::vector<std::uint32_t>{1});
  const int writes = data->signal.writes;
  const int txs = data->transactions;

  // The same ciphertext again (the server did not see our answer before a failover): answered,
  // never decrypted (its pre-key is gone; decrypting would fail and ask for a retry).
  s.send(conn, m1);
  REQUIRE(s.wait([](const auto& rs) { return count(rs, "ack", "M1") == 2; }, 5s));
  CHECK(count(s.received(), "receipt", "M1") == 2);
  CHECK(count(s.received(), "receipt", "M1", "retry") == 0);
  CHECK(data->inbox_copy().size() == 1);
  CHECK(data->signal.writes == writes);
  CHECK(data->transactions == txs);

  // A msg we cannot decrypt: a retry receipt (count 1, no keys), then for the resend count 2 with
  // a fresh pre-key stored before it is sent, and our device identity without the account key.
  Bytes garbage = wa::crypto::random_bytes(60);
  garbage[0] = 0x33;
  s.send(conn, message_stanza("M2", "15550002@s.whatsapp.net", "msg", garbage));
  REQUIRE(s.wait([](const auto& rs) { return count(rs, "receipt", "M2", "retry") == 1; }, 5s));
  auto retry1 = s.received();
  auto r1 = std::find_if(retry1.begin(), retry1.end(),
                         [](const Received& r) { return is_answer(r, "receipt", "M2", "retry"); });
  CHECK(r1->node.child("retry")->attr_text("count") == "1");
  CHECK(*r1->node.child("registration")->bytes() == wa::client::be4(keys.registration_id));
  CHECK_FALSE(r1->node.child("keys"));
  const auto before = devices.snapshot().pre_keys.size();
  garbage[5] ^= 1;
  s.send(conn, message_stanza("M2", "15550002@s.whatsapp.net", "msg", garbage, 1));
  REQUIRE(s.wait([](const auto& rs) { return count(rs, "receipt", "M2", "retry") == 2; }, 5s));
  auto retry2 = s.received();
  auto r2 = std::find_if(retry2.rbegin(), retry2.rend(),
                         [](const Received& r) { return is_answer(r, "receipt", "M2", "retry"); });
  CHECK(r2->node.child("retry")->attr_text("count") == "2");
  const auto* k = r2->node.child("keys");
  REQUIRE(k);
  REQUIRE(k->child("key"));
  CHECK(devices.snapshot().pre_keys.size() == before + 1);
  const auto* di = k->child("device-identity");
  REQUIRE(di);
  wa::proto::ADVSignedDeviceIdentity shown;
  REQUIRE(shown.ParseFromArray(di->bytes()->data(), static_cast<int>(di->bytes()->size())));
  CHECK_FALSE(shown.has_account_signature_key());
  CHECK(data->inbox_copy().size() == 1);
  CHECK(log.count_state(wa::core::ConnectionState::logged_in) == 1);  // none of this ended the connection
  CHECK(stored_text.load() == 1);                                     // the redelivery is not counted again
  CHECK(failures.load() == 2);

  // The contact reinstalled: <notification type="encrypt"><identity/></notification>. Its session
  // and identity key are forgotten (the next message to it starts from a fresh bundle).
  REQUIRE(data->signal.sessions.count(wa::signal::Address{"15550002", 0}) == 1);
  s.send(conn, Node{"notification",
                    {{"from", *Jid::parse("15550002@s.whatsapp.net")},
                     {"id", std::string("N9")},
                     {"type", std::string("encrypt")},
                     {"t", std::string("1700000002")}},
                    NodeList{Node{"identity", {}, {}}}});
  REQUIRE(s.wait([](const auto& rs) { return count(rs, "ack", "N9") == 1; }, 5s));
  auto session_gone = [&] {
    std::lock_guard lk(data->mu);  // the client's transaction holds it while it writes
    return data->signal.sessions.count(wa::signal::Address{"15550002", 0}) == 0 &&
           data->signal.identities.count(wa::signal::Address{"15550002", 0}) == 0;
  };
  REQUIRE(s.wait([&](const auto&) { return session_gone(); }, 5s));
  CHECK(log.count_state(wa::core::ConnectionState::logged_in) == 1);
  client.stop(wa::core::DisconnectReason::user_initiated);
}

TEST_CASE(
    "scripted: receive - a fenced message store sends no receipt and no ack, and ends the client as "
    "lock_lost",
    "[client][scripted][receive]") {
  ScriptedServer s(
      [](ScriptedServer& srv, std::uint64_t c, const wa::proto::ClientPayload&) {
        srv.send(c, Node{"success", {{"t", std::string("1700000000")}}, {}});
      },
      [](ScriptedServer& srv, std::uint64_t c, const Node& n) {
        if (n.tag != "iq") return;
        if (n.attr_text("xmlns") == "encrypt" && n.attr_text("type") == "get")
          return srv.send(c, Node{"iq",
                                  {{"from", Jid{"", "s.whatsapp.net", 0, std::nullopt, 0}},
                                   {"type", std::string("result")},
                                   {"id", n.attr_text("id").value_or("")}},
                                  NodeList{Node{"count", {{"value", std::string("100")}}, {}}}});
        srv.send(c, result_for(n));
      });
  MemoryStore devices;
  auto keys = wa::client::DeviceKeys::generate();
  keys.jid = "15550001:7@s.whatsapp.net";
  devices.make()->save_device(keys);
  for (std::uint32_t id = 1; id <= 100; ++id)
    devices.make()->save_pre_keys({wa::client::PreKey{id, wa::crypto::KeyPair::generate(), true}});
  auto data = std::make_shared<MessageData>();
  data->fenced = true;  // another pod leads now
  wa::client::ClientOptions o;
  o.url = s.url();
  o.trusted_root = s.root();
  o.iq_timeout = 5s;
  EventLog log;
  wa::client::WaClient client("biz-recv-fenced", o, devices.make(), log.events(), nullptr,
                              std::make_unique<MemoryMessageStore>(data));
  client.start();
  REQUIRE(log.wait_state(wa::core::ConnectionState::logged_in, 10s));
  REQUIRE(s.wait([](const std::vector<Received>& rs) { return !rs.empty(); }, 5s));
  const auto conn = s.received().front().conn;
  Bytes ct = wa::crypto::random_bytes(80);
  ct[0] = 0x33;
  s.send(conn, message_stanza("F1", "15550002@s.whatsapp.net", "pkmsg", ct));
  REQUIRE(log.wait_disconnect(wa::core::DisconnectReason::lock_lost, 5s));
  auto rs = s.received();
  CHECK(count(rs, "ack", "F1") == 0);
  CHECK(count(rs, "receipt", "F1") == 0);
  CHECK(count(rs, "receipt", "F1", "retry") == 0);
  CHECK(data->inbox_copy().empty());
}
