#include <catch2/catch.hpp>

#include "core/client/device_sent.h"
#include "core/client/group_send.h"
#include "core/client/message_content.h"
#include "core/client/message_id.h"
#include "core/client/outgoing_message.h"
#include "core/client/phash.h"
#include "core/client/prekey_fetch.h"
#include "core/client/receipt_handle.h"
#include "core/client/stanzas.h"
#include "core/client/usync.h"
#include "core/crypto/base64.h"
#include "core/crypto/digest.h"
#include "core/signal/group_cipher.h"
#include "core/signal/padding.h"
#include "core/signal/session_cipher.h"
#include "tests/core_signal/party.h"

using namespace wa;
using binary::Jid;
using binary::Node;
using binary::NodeList;

namespace {

Jid J(const std::string& s) {
  auto j = Jid::parse(s);
  REQUIRE(j);
  return *j;
}

Node bytes_node(std::string tag, crypto::Bytes b) { return Node{std::move(tag), {}, std::move(b)}; }

// The <user> element a server answers a bundle fetch with, from a party's keys.
Node bundle_user(const Jid& jid, const test::Party& p, std::uint32_t pre_key_id) {
  const auto b = p.bundle(pre_key_id);
  NodeList kids{bytes_node("registration", client::be4(b.registration_id)),
                bytes_node("identity", crypto::Bytes(b.identity.begin(), b.identity.end())),
                Node{"skey", {},
                     NodeList{bytes_node("id", client::be3(b.signed_pre_key_id)),
                              bytes_node("value", crypto::Bytes(b.signed_pre_key.begin(), b.signed_pre_key.end())),
                              bytes_node("signature", b.signed_pre_key_signature)}}};
  if (b.pre_key)
    kids.push_back(Node{"key", {},
                        NodeList{bytes_node("id", client::be3(b.pre_key->id)),
                                 bytes_node("value", crypto::Bytes(b.pre_key->key.begin(), b.pre_key->key.end()))}});
  return Node{"user", {{"jid", jid}}, std::move(kids)};
}

std::string decrypt_text(test::Party& p, const Jid& from, const Node& enc) {
  const auto type = enc.attr_text("type").value_or("");
  const auto plain = signal::decrypt(p.proto, signal::Address::from_jid(from),
                                     type == "pkmsg" ? signal::CiphertextType::pkmsg : signal::CiphertextType::msg,
                                     *enc.bytes());
  auto content = client::decode_message(signal::unpad(plain));
  if (content.device_sent_destination) return "dsm:" + *content.device_sent_destination + ":" + content.text.value_or("");
  return content.text.value_or("");
}

}  // namespace

TEST_CASE("message ids have whatsmeow's form and hash what it hashes", "[send]") {
  const crypto::Bytes r(16, 0xAB);
  const auto id = client::make_message_id(1700000000, "15550001", r);
  REQUIRE(id.size() == client::kGeneratedMessageIdLength);
  REQUIRE(id.rfind("3EB0", 0) == 0);
  // Recompute the hash independently: 8-byte BE seconds || user || "@c.us" || random.
  crypto::Bytes data{0, 0, 0, 0, 0x65, 0x53, 0xF1, 0x00};
  for (char c : std::string("15550001@c.us")) data.push_back(static_cast<std::uint8_t>(c));
  data.insert(data.end(), r.begin(), r.end());
  const auto h = crypto::sha256(data);
  std::string hex;
  const char* digits = "0123456789ABCDEF";
  for (int i = 0; i < 9; ++i) {
    hex += digits[h[i] >> 4];
    hex += digits[h[i] & 15];
  }
  REQUIRE(id == "3EB0" + hex);
  REQUIRE(client::make_message_id(1700000001, "15550001", r) != id);
  REQUIRE_THROWS_AS(client::make_message_id(1, "u", crypto::Bytes(15)), std::invalid_argument);
  REQUIRE(client::new_message_id("1") != client::new_message_id("1"));
  REQUIRE(client::message_id_or("CALLER-1", "1") == "CALLER-1");
  REQUIRE(client::message_id_or("", "1").size() == 22);
}

TEST_CASE("phash: sorted AD strings, first 6 bytes of SHA-256, unpadded base64", "[send]") {
  REQUIRE(client::ad_string(J("15550001@s.whatsapp.net")) == "15550001.0:0@s.whatsapp.net");
  REQUIRE(client::ad_string(J("15550001:7@s.whatsapp.net")) == "15550001.0:7@s.whatsapp.net");
  const std::vector<Jid> a{J("2:3@s.whatsapp.net"), J("1@s.whatsapp.net")};
  const std::vector<Jid> b{J("1@s.whatsapp.net"), J("2:3@s.whatsapp.net")};
  const auto h = client::participant_hash(a);
  REQUIRE(h == client::participant_hash(b));  // order-independent
  const auto digest = crypto::sha256(crypto::view("1.0:0@s.whatsapp.net2.0:3@s.whatsapp.net"));
  REQUIRE(h == "2:" + crypto::base64_encode(crypto::ByteView(digest.data(), 6), false, false));
  REQUIRE(h.size() == 2 + 8);
  REQUIRE(client::participant_hash({J("1@s.whatsapp.net")}) != h);
}

TEST_CASE("usync device query and answer", "[send]") {
  const auto q = client::usync_devices_query("q1", {J("15550002:3@s.whatsapp.net"), J("15550001@s.whatsapp.net")});
  REQUIRE(q.tag == "iq");
  REQUIRE(q.attr_text("xmlns") == "usync");
  REQUIRE(q.attr_text("type") == "get");
  const Node* us = q.child("usync");
  REQUIRE(us);
  REQUIRE(us->attr_text("mode") == "query");
  REQUIRE(us->attr_text("context") == "message");
  REQUIRE(us->child("query")->child("devices")->attr_text("version") == "2");
  REQUIRE(us->child("list")->children().size() == 2);
  REQUIRE(us->child("list")->children()[0].attr_text("jid") == "15550002@s.whatsapp.net");  // device dropped
  REQUIRE_THROWS_AS(client::usync_devices_query("q", {}), std::invalid_argument);
  REQUIRE_FALSE(us->child("query")->child("lid"));
  const auto ql = client::usync_devices_query("q2", {J("15550002@s.whatsapp.net")}, true);
  REQUIRE(ql.child("usync")->child("query")->child("lid"));

  auto device = [](const char* id, const char* extra_key = nullptr, const char* extra_val = nullptr) {
    Node d{"device", {{"id", std::string(id)}}, {}};
    if (extra_key) d.attrs.push_back({extra_key, std::string(extra_val)});
    return d;
  };
  auto user = [](const char* jid, NodeList devices) {
    return Node{"user", {{"jid", std::string(jid)}},
                NodeList{Node{"devices", {}, NodeList{Node{"device-list", {}, std::move(devices)}}}}};
  };
  Node answer{"iq", {{"type", std::string("result")}},
              NodeList{Node{"usync", {},
                            NodeList{Node{"list", {},
                                          NodeList{user("15550002@s.whatsapp.net",
                                                        {device("5", "key-index", "5"), device("0"),
                                                         device("9", "is_hosted", "true"), device("5")}),
                                                   Node{"user", {{"jid", std::string("15550003@s.whatsapp.net")}},
                                                        NodeList{Node{"error", {{"code", std::string("404")}}, {}}}},
                                                   Node{"user", {{"jid", std::string("15550004@s.whatsapp.net")}},
                                                        NodeList{Node{"lid", {{"val", std::string("99004@lid")}}, {}}}}}}}}}};
  const auto users = client::parse_usync_devices(answer);
  REQUIRE(users.size() == 2);
  REQUIRE(users[0].user == J("15550002@s.whatsapp.net"));
  REQUIRE_FALSE(users[0].lid);
  REQUIRE(users[1].user == J("15550004@s.whatsapp.net"));
  REQUIRE(users[1].lid == J("99004@lid"));
  REQUIRE(users[1].devices.empty());
  REQUIRE(users[0].devices == std::vector<Jid>{J("15550002@s.whatsapp.net"), J("15550002:5@s.whatsapp.net")});

  Node bad_id = answer;
  std::get<NodeList>(std::get<NodeList>(std::get<NodeList>(bad_id.content)[0].content)[0].content)[0] =
      user("15550002@s.whatsapp.net", {device("x")});
  REQUIRE_THROWS_AS(client::parse_usync_devices(bad_id), client::UsyncError);
  NodeList many;
  for (int i = 0; i <= static_cast<int>(client::kMaxDevicesPerUser); ++i) many.push_back(device("1"));
  Node too_many = answer;
  std::get<NodeList>(std::get<NodeList>(std::get<NodeList>(too_many.content)[0].content)[0].content)[0] =
      user("15550002@s.whatsapp.net", many);
  REQUIRE_THROWS_AS(client::parse_usync_devices(too_many), client::UsyncError);
  REQUIRE_THROWS_AS(client::parse_usync_devices(Node{"iq", {{"type", std::string("error")}}, {}}), client::UsyncError);
  REQUIRE_THROWS_AS(client::parse_usync_devices(Node{"iq", {{"type", std::string("result")}}, {}}), client::UsyncError);

  client::DeviceCache cache;
  REQUIRE_FALSE(cache.get(J("15550002@s.whatsapp.net")));
  cache.put(J("15550002:4@s.whatsapp.net"), users[0].devices);
  REQUIRE(cache.get(J("15550002@s.whatsapp.net")) == users[0].devices);
  cache.invalidate(J("15550002:9@s.whatsapp.net"));
  REQUIRE_FALSE(cache.get(J("15550002@s.whatsapp.net")));
}

TEST_CASE("bundle fetch builds sessions for the devices that need one", "[send]") {
  const Jid bob_dev = J("15550002:3@s.whatsapp.net");
  const Jid carol_dev = J("15550003@s.whatsapp.net");
  test::Party alice(signal::Address{"15550001", 7});
  test::Party bob(signal::Address::from_jid(J("15550001:7@s.whatsapp.net")));
  REQUIRE(client::devices_without_session(alice.proto, {bob_dev, carol_dev}).size() == 2);
  const auto req = client::bundle_request("k1", {bob_dev, carol_dev});
  REQUIRE(req.attr_text("xmlns") == "encrypt");
  const Node* key = req.child("key");
  REQUIRE(key);
  REQUIRE(key->children().size() == 2);
  REQUIRE(key->children()[0].attr_text("jid") == bob_dev.to_string());
  REQUIRE(key->children()[0].attr_text("reason") == "identity");

  Node answer{"iq", {{"type", std::string("result")}},
              NodeList{Node{"list", {},
                            NodeList{bundle_user(bob_dev, bob, 1),
                                     Node{"user", {{"jid", carol_dev}},
                                          NodeList{Node{"error", {{"code", std::string("404")}}, {}}}}}}}};
  const auto out = client::apply_bundles(alice.proto, answer);
  REQUIRE(out.ready == std::vector<Jid>{bob_dev});
  REQUIRE(out.failed.size() == 1);
  REQUIRE(out.failed[0].first == carol_dev);
  REQUIRE(client::devices_without_session(alice.proto, {bob_dev, carol_dev}) == std::vector<Jid>{carol_dev});
}

TEST_CASE("fan-out: pkmsg first, msg after a reply, DeviceSentMessage to our other devices", "[send]") {
  const Jid me = J("15550001:7@s.whatsapp.net");
  const Jid my_phone = J("15550001@s.whatsapp.net");
  const Jid bob_dev = J("15550002@s.whatsapp.net");
  const Jid bob_user = J("15550002@s.whatsapp.net");
  test::Party alice(signal::Address::from_jid(me));
  test::Party bob(signal::Address::from_jid(bob_dev));
  test::Party phone(signal::Address::from_jid(my_phone));
  signal::process_bundle(alice.proto, signal::Address::from_jid(bob_dev), bob.bundle(1));
  signal::process_bundle(alice.proto, signal::Address::from_jid(my_phone), phone.bundle(1));
  const client::OwnIdentity own{me, J("10000015550001:7@lid")};
  REQUIRE(client::is_this_device(J("10000015550001:7@lid"), own));
  REQUIRE_FALSE(client::is_this_device(my_phone, own));
  REQUIRE(client::is_own_account(my_phone, own));
  REQUIRE_FALSE(client::is_own_account(bob_dev, own));

  const auto msg = client::encode_text_message("héllo");
  const auto dsm = client::device_sent_plaintext(bob_user, msg);
  const std::vector<Jid> devices{bob_dev, my_phone, me, J("15550002:9@s.whatsapp.net")};
  auto fan = client::encrypt_fanout(alice.proto, devices, own, msg, dsm);
  REQUIRE(fan.devices == std::vector<Jid>{bob_dev, my_phone});  // not us; :9 has no session
  REQUIRE(fan.skipped.size() == 1);
  REQUIRE(fan.any_pkmsg);
  const crypto::Bytes identity{1, 2, 3};
  auto stanza = client::message_stanza("3EB0AA", bob_user, client::kTextType, fan, identity);
  REQUIRE(stanza.attr_text("to") == "15550002@s.whatsapp.net");
  REQUIRE(stanza.attr_text("type") == "text");
  REQUIRE_FALSE(stanza.attr("phash"));
  REQUIRE(stanza.child("device-identity"));
  REQUIRE(*stanza.child("device-identity")->bytes() == identity);
  const auto& tos = stanza.child("participants")->children();
  REQUIRE(tos.size() == 2);
  REQUIRE(tos[0].attr_text("jid") == bob_dev.to_string());
  REQUIRE(tos[0].child("enc")->attr_text("type") == "pkmsg");
  REQUIRE(tos[0].child("enc")->attr_text("v") == "2");
  REQUIRE(decrypt_text(bob, me, *tos[0].child("enc")) == "héllo");
  REQUIRE(decrypt_text(phone, me, *tos[1].child("enc")) == "dsm:15550002@s.whatsapp.net:héllo");

  // Bob answers, so the session is confirmed and our next message is a msg without device-identity.
  const auto reply = signal::encrypt(bob.proto, signal::Address::from_jid(me), signal::pad(client::encode_text_message("re")));
  signal::decrypt(alice.proto, signal::Address::from_jid(bob_dev), reply.type, reply.data);
  auto fan2 = client::encrypt_fanout(alice.proto, {bob_dev}, own, msg, dsm);
  REQUIRE_FALSE(fan2.any_pkmsg);
  auto stanza2 = client::message_stanza("3EB0AB", bob_user, client::kTextType, fan2, identity, std::string("2:abc"));
  REQUIRE_FALSE(stanza2.child("device-identity"));
  REQUIRE(stanza2.attr_text("phash") == "2:abc");
  REQUIRE(stanza2.child("participants")->children()[0].child("enc")->attr_text("type") == "msg");
  REQUIRE(decrypt_text(bob, me, *stanza2.child("participants")->children()[0].child("enc")) == "héllo");
}

TEST_CASE("a retry resend goes to one device with its count", "[send]") {
  const Jid me = J("15550001:7@s.whatsapp.net");
  const Jid bob_dev = J("15550002:2@s.whatsapp.net");
  test::Party alice(signal::Address::from_jid(me));
  test::Party bob(signal::Address::from_jid(bob_dev));
  REQUIRE_THROWS_AS(client::resend_stanza(alice.proto, "X", bob_dev, "text", signal::pad(client::encode_text_message("a")), 1, {}),
                    signal::SignalError);
  signal::process_bundle(alice.proto, signal::Address::from_jid(bob_dev), bob.bundle(2));
  const crypto::Bytes identity{9};
  auto n = client::resend_stanza(alice.proto, "3EB0XY", bob_dev, "text", signal::pad(client::encode_text_message("again")), 2,
                                 identity);
  REQUIRE(n.attr_text("to") == bob_dev.to_string());
  REQUIRE(n.attr_text("device_fanout") == "false");
  REQUIRE_FALSE(n.child("participants"));
  const Node* enc = n.child("enc");
  REQUIRE(enc);
  REQUIRE(enc->attr_text("count") == "2");
  REQUIRE(enc->attr_text("type") == "pkmsg");
  REQUIRE(n.child("device-identity"));
  REQUIRE(decrypt_text(bob, me, *enc) == "again");
}

TEST_CASE("server acks and receipts of our messages", "[send]") {
  auto ack = client::parse_message_ack(Node{"ack",
                                            {{"class", std::string("message")},
                                             {"id", std::string("3EB0A")},
                                             {"from", std::string("15550002@s.whatsapp.net")},
                                             {"t", std::string("1700000000")},
                                             {"phash", std::string("2:xyz")}},
                                            {}});
  REQUIRE(ack);
  REQUIRE(ack->id == "3EB0A");
  REQUIRE_FALSE(ack->error);
  REQUIRE(ack->t == 1700000000);
  REQUIRE(ack->phash == "2:xyz");
  auto err = client::parse_message_ack(
      Node{"ack", {{"class", std::string("message")}, {"id", std::string("B")}, {"error", std::string("409")}}, {}});
  REQUIRE(err->error == "409");
  REQUIRE_FALSE(client::parse_message_ack(Node{"ack", {{"class", std::string("receipt")}, {"id", std::string("B")}}, {}}));
  REQUIRE_FALSE(client::parse_message_ack(Node{"ack", {{"class", std::string("message")}}, {}}));

  auto r = client::parse_receipt(Node{"receipt",
                                      {{"id", std::string("A")}, {"from", std::string("15550002:3@s.whatsapp.net")}},
                                      NodeList{Node{"list", {},
                                                    NodeList{Node{"item", {{"id", std::string("B")}}, {}},
                                                             Node{"item", {}, {}}}}}});
  REQUIRE(r);
  REQUIRE(r->kind == client::ReceiptKind::delivered);
  REQUIRE(r->ids == std::vector<std::string>{"A", "B"});
  REQUIRE(r->from == J("15550002:3@s.whatsapp.net"));
  REQUIRE_FALSE(r->chat);
  auto read = client::parse_receipt(Node{"receipt",
                                         {{"id", std::string("A")},
                                          {"from", std::string("1203@g.us")},
                                          {"participant", std::string("15550002:3@s.whatsapp.net")},
                                          {"type", std::string("read")}},
                                         {}});
  REQUIRE(read->kind == client::ReceiptKind::read);
  REQUIRE(read->chat == J("1203@g.us"));
  REQUIRE(read->from == J("15550002:3@s.whatsapp.net"));
  REQUIRE(client::parse_receipt(Node{"receipt", {{"id", std::string("A")}, {"from", std::string("1@s.whatsapp.net")},
                                                 {"type", std::string("read-self")}}, {}})
              ->kind == client::ReceiptKind::other);
  REQUIRE(client::parse_receipt(Node{"receipt", {{"id", std::string("A")}, {"from", std::string("1@s.whatsapp.net")},
                                                 {"type", std::string("inactive")}}, {}})
              ->kind == client::ReceiptKind::delivered);
  REQUIRE_FALSE(client::parse_receipt(Node{"receipt", {{"id", std::string("A")}, {"from", std::string("1203@g.us")}}, {}}));
  REQUIRE_FALSE(client::parse_receipt(Node{"receipt", {{"from", std::string("1@s.whatsapp.net")}}, {}}));

  auto retry = client::parse_receipt(
      Node{"receipt",
           {{"id", std::string("A")}, {"from", std::string("15550002:3@s.whatsapp.net")}, {"type", std::string("retry")}},
           NodeList{Node{"retry", {{"count", std::string("2")}, {"id", std::string("A")}}, {}},
                    Node{"registration", {}, crypto::Bytes{0, 0, 1, 2}}, Node{"keys", {}, NodeList{}}}});
  REQUIRE(retry->kind == client::ReceiptKind::retry);
  REQUIRE(retry->retry->count == 2);
  REQUIRE(retry->retry->registration_id == 258);
  REQUIRE(retry->retry->has_keys);
  auto bad_retry = client::parse_receipt(Node{
      "receipt", {{"id", std::string("A")}, {"from", std::string("1@s.whatsapp.net")}, {"type", std::string("retry")}}, {}});
  REQUIRE(bad_retry->kind == client::ReceiptKind::other);
}

TEST_CASE("group message: SKDM pairwise to every member device, one skmsg, phash", "[send]") {
  const Jid me = J("15550001:7@s.whatsapp.net");
  const Jid my_phone = J("15550001@s.whatsapp.net");
  const Jid bob_dev = J("15550002@s.whatsapp.net");
  const Jid group = J("120363000000000001@g.us");
  test::Party alice(signal::Address::from_jid(me));
  test::Party bob(signal::Address::from_jid(bob_dev));
  test::Party phone(signal::Address::from_jid(my_phone));
  signal::process_bundle(alice.proto, signal::Address::from_jid(bob_dev), bob.bundle(1));
  signal::process_bundle(alice.proto, signal::Address::from_jid(my_phone), phone.bundle(1));
  const client::OwnIdentity own{me, std::nullopt};

  const auto q = client::group_info_query("g1", group);
  REQUIRE(q.attr_text("xmlns") == "w:g2");
  REQUIRE(q.attr_text("to") == group.to_string());
  REQUIRE(q.child("query")->attr_text("request") == "interactive");
  Node answer{"iq", {{"type", std::string("result")}},
              NodeList{Node{"group", {{"id", std::string("120363000000000001")}},
                            NodeList{Node{"participant", {{"jid", std::string("15550001@s.whatsapp.net")},
                                                          {"type", std::string("superadmin")}}, {}},
                                     Node{"participant", {{"jid", std::string("15550002@s.whatsapp.net")}}, {}}}}}};
  REQUIRE(client::parse_group_participants(answer) ==
          std::vector<Jid>{J("15550001@s.whatsapp.net"), J("15550002@s.whatsapp.net")});
  REQUIRE_THROWS_AS(client::parse_group_participants(Node{"iq", {{"type", std::string("error")}}, {}}),
                    client::GroupInfoError);
  REQUIRE_THROWS_AS(client::parse_group_participants(Node{"iq", {{"type", std::string("result")}},
                                                          NodeList{Node{"group", {}, NodeList{}}}}),
                    client::GroupInfoError);

  const crypto::Bytes identity{7};
  for (const char* text : {"group one", "group two"}) {
    auto gm = client::group_message(alice.proto, "3EB0G", group, {bob_dev, my_phone, me}, own,
                                    client::encode_text_message(text), identity);
    REQUIRE(gm.devices == 2);
    const Node& st = gm.stanza;
    REQUIRE(st.attr_text("to") == group.to_string());
    REQUIRE(st.attr_text("phash") == client::participant_hash({bob_dev, my_phone}));
    const Node* sk = nullptr;
    for (const auto& c : st.children())
      if (c.tag == "enc") sk = &c;
    REQUIRE(sk);
    REQUIRE(sk->attr_text("type") == "skmsg");
    for (auto* member : {&bob, &phone}) {
      const Jid dev = member == &bob ? bob_dev : my_phone;
      const Node* to = nullptr;
      for (const auto& t : st.child("participants")->children())
        if (t.attr_text("jid") == dev.to_string()) to = &t;
      REQUIRE(to);
      const Node& enc = *to->child("enc");
      const auto plain = signal::decrypt(member->proto, signal::Address::from_jid(me),
                                         enc.attr_text("type") == "pkmsg" ? signal::CiphertextType::pkmsg
                                                                          : signal::CiphertextType::msg,
                                         *enc.bytes());
      const auto content = client::decode_message(signal::unpad(plain));
      REQUIRE(content.sender_key_distribution);
      REQUIRE(content.sender_key_distribution->group_id == group.to_string());
      const signal::SenderKeyName name{group.to_string(), signal::Address::from_jid(me)};
      signal::process_sender_key_distribution(member->proto, name, content.sender_key_distribution->distribution);
      const auto text_plain = signal::group_decrypt(member->proto, name, *sk->bytes());
      REQUIRE(client::decode_message(signal::unpad(text_plain)).text == text);
    }
  }
}

TEST_CASE("group message: the SKDM only to devices without our key, a retry answered pairwise with it", "[send]") {
  const Jid me = J("15550001:7@s.whatsapp.net");
  const Jid bob_dev = J("15550002@s.whatsapp.net");
  const Jid carol_dev = J("15550003:2@s.whatsapp.net");
  const Jid group = J("120363000000000002@g.us");
  test::Party alice(signal::Address::from_jid(me));
  test::Party bob(signal::Address::from_jid(bob_dev));
  test::Party carol(signal::Address::from_jid(carol_dev));
  signal::process_bundle(alice.proto, signal::Address::from_jid(bob_dev), bob.bundle(1));
  signal::process_bundle(alice.proto, signal::Address::from_jid(carol_dev), carol.bundle(1));
  const client::OwnIdentity own{me, std::nullopt};
  const signal::SenderKeyName name{group.to_string(), signal::Address::from_jid(me)};
  auto skmsg_of = [](const Node& st) {
    for (const auto& c : st.children())
      if (c.tag == "enc" && c.attr_text("type") == "skmsg") return *c.bytes();
    FAIL("no skmsg");
    return crypto::Bytes{};
  };

  // First message: bob has no key yet, so he gets the SKDM.
  auto first = client::group_message(alice.proto, "3EB0G1", group, {bob_dev, me}, own,
                                     client::encode_text_message("one"), {});
  REQUIRE(first.skdm_devices == std::vector<std::string>{signal::Address::from_jid(bob_dev).to_string()});
  const Node& enc = *first.stanza.child("participants")->children().front().child("enc");
  const auto content = client::decode_message(signal::unpad(signal::decrypt(
      bob.proto, signal::Address::from_jid(me), signal::CiphertextType::pkmsg, *enc.bytes())));
  signal::process_sender_key_distribution(bob.proto, name, content.sender_key_distribution->distribution);
  REQUIRE(client::decode_message(signal::unpad(signal::group_decrypt(bob.proto, name, skmsg_of(first.stanza)))).text ==
          "one");

  // Second message, bob holds the key, carol (a new member) does not: only carol gets an SKDM, and
  // the phash still covers both.
  auto second = client::group_message(alice.proto, "3EB0G2", group, {bob_dev, carol_dev, me}, own,
                                      client::encode_text_message("two"), {},
                                      {signal::Address::from_jid(bob_dev).to_string()});
  REQUIRE(second.skdm_devices == std::vector<std::string>{signal::Address::from_jid(carol_dev).to_string()});
  REQUIRE(second.stanza.child("participants")->children().size() == 1);
  REQUIRE(second.stanza.attr_text("phash") == client::participant_hash({bob_dev, carol_dev}));
  REQUIRE(client::decode_message(signal::unpad(signal::group_decrypt(bob.proto, name, skmsg_of(second.stanza)))).text ==
          "two");

  // Everyone holds it: no <participants> at all, just the skmsg.
  auto third = client::group_message(
      alice.proto, "3EB0G3", group, {bob_dev, carol_dev, me}, own, client::encode_text_message("three"), {},
      {signal::Address::from_jid(bob_dev).to_string(), signal::Address::from_jid(carol_dev).to_string()});
  REQUIRE(third.skdm_devices.empty());
  REQUIRE(third.stanza.child("participants") == nullptr);
  REQUIRE(client::decode_message(signal::unpad(signal::group_decrypt(bob.proto, name, skmsg_of(third.stanza)))).text ==
          "three");

  // Carol lost the second message's SKDM and cannot read "three": her retry is answered pairwise
  // with the text and our current SKDM, addressed to the group with her as participant.
  auto retry = client::group_retry_stanza(alice.proto, "3EB0G3", group, carol_dev, own,
                                          client::encode_text_message("three"), 1, {});
  REQUIRE(retry.attr_text("to") == group.to_string());
  REQUIRE(retry.attr_text("participant") == carol_dev.to_string());
  REQUIRE(retry.child("participants") == nullptr);
  const Node& renc = *retry.child("enc");
  REQUIRE(renc.attr_text("count") == "1");
  const auto got = client::decode_message(signal::unpad(signal::decrypt(
      carol.proto, signal::Address::from_jid(me),
      renc.attr_text("type") == "pkmsg" ? signal::CiphertextType::pkmsg : signal::CiphertextType::msg, *renc.bytes())));
  REQUIRE(got.text == "three");
  REQUIRE(got.sender_key_distribution);
  signal::process_sender_key_distribution(carol.proto, name, got.sender_key_distribution->distribution);
  auto fourth = client::group_message(
      alice.proto, "3EB0G4", group, {bob_dev, carol_dev, me}, own, client::encode_text_message("four"), {},
      {signal::Address::from_jid(bob_dev).to_string(), signal::Address::from_jid(carol_dev).to_string()});
  REQUIRE(client::decode_message(signal::unpad(signal::group_decrypt(carol.proto, name, skmsg_of(fourth.stanza)))).text ==
          "four");
}

TEST_CASE("a retry receipt's <keys> become a bundle", "[send]") {
  test::Party bob(signal::Address{"15550002", 2});
  const auto b = bob.bundle(3);
  auto bytes_of = [](const crypto::Key32& k) { return crypto::Bytes(k.begin(), k.end()); };
  Node keys{"keys", {},
            NodeList{bytes_node("type", crypto::Bytes{5}), bytes_node("identity", bytes_of(b.identity)),
                     Node{"key", {}, NodeList{bytes_node("id", client::be3(3)), bytes_node("value", bytes_of(b.pre_key->key))}},
                     Node{"skey", {},
                          NodeList{bytes_node("id", client::be3(b.signed_pre_key_id)),
                                   bytes_node("value", bytes_of(b.signed_pre_key)),
                                   bytes_node("signature", b.signed_pre_key_signature)}}}};
  auto r = client::parse_receipt(Node{
      "receipt",
      {{"id", std::string("A")}, {"from", std::string("15550002:2@s.whatsapp.net")}, {"type", std::string("retry")}},
      NodeList{Node{"retry", {{"count", std::string("2")}}, {}}, bytes_node("registration", client::be4(b.registration_id)),
               keys}});
  REQUIRE(r);
  REQUIRE(r->bundle);
  REQUIRE(r->bundle->registration_id == b.registration_id);
  REQUIRE(r->bundle->identity == b.identity);
  REQUIRE(r->bundle->pre_key->id == 3);
  // A sender can build a session from it and the peer decrypts the resend.
  test::Party alice(signal::Address{"15550001", 7});
  signal::process_bundle(alice.proto, signal::Address::from_jid(r->from), *r->bundle);
  auto n = client::resend_stanza(alice.proto, "A", r->from, "text", signal::pad(client::encode_text_message("again")),
                                 r->retry->count, {});
  REQUIRE(decrypt_text(bob, J("15550001:7@s.whatsapp.net"), *n.child("enc")) == "again");
}
