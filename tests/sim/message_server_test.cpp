// wasim as a message server (issue 8) against the real binary: two linked companions upload real
// Signal keys (tests/core_signal's in-memory Party), one reads the other's device list (usync)
// and bundle, sends a real pkmsg through wasim, the other decrypts it live and answers with a msg;
// receipts are relayed; a msg without a prior pkmsg is refused; a message for an offline device
// waits (also across a wasim restart) and comes as an offline batch until it is acked; groups
// (admin API, w:g2, skmsg fan-out).
#include <catch2/catch.hpp>

#include "core/binary/jid.h"
#include "core/client/message_content.h"
#include "core/client/stanzas.h"
#include "core/crypto/base64.h"
#include "core/crypto/random.h"
#include "core/crypto/xeddsa.h"
#include "core/signal/group_cipher.h"
#include "core/signal/padding.h"
#include "core/signal/session_cipher.h"
#include "tests/core_signal/party.h"
#include "tests/sim/harness.h"
#include "wa_adv.pb.h"

using namespace wa::simtest;
using wa::binary::Jid;
using wa::binary::Node;
using wa::binary::NodeList;
using wa::crypto::Bytes;
using wa::crypto::KeyPair;

namespace {

const Jid kServer{"", "s.whatsapp.net", 0, std::nullopt, 0};
// These tests read the phone-number form; the LID form has its own test case below.
const std::vector<std::string> kPn{"--addressing", "pn"};

Node next(WaTestClient& c, std::chrono::milliseconds timeout = 5000ms) {
  auto n = c.recv_node(timeout);
  REQUIRE(n.has_value());
  return *n;
}

// The next <message>, skipping receipts (virtual phones answer each message with one).
Node next_message(WaTestClient& c) {
  for (int i = 0; i < 20; ++i) {
    Node n = next(c);
    if (n.tag == "message") return n;
  }
  FAIL("no <message> among the next 20 stanzas");
  return {};
}

std::string text(const Node& n) {
  if (auto b = n.bytes()) return std::string(b->begin(), b->end());
  if (auto s = std::get_if<std::string>(&n.content)) return *s;
  return {};
}

const NodeList& kids(const Node& n) {
  static const NodeList none;
  auto k = std::get_if<NodeList>(&n.content);
  return k ? *k : none;
}

std::string attr(const Node& n, const char* k) {
  return n.attr_text(k).value_or("");
}

// A phone with one linked companion that holds real Signal keys.
struct Peer {
  std::string phone;  // "+1555..."
  std::uint64_t user = 0;
  KeyPair noise = KeyPair::generate();
  wa::crypto::Key32 adv{};
  std::unique_ptr<wa::test::Party> party;
  std::string jid;  // companion device JID
  std::unique_ptr<WaTestClient> conn;
  int next_id = 0;

  explicit Peer(std::string p) : phone(std::move(p)), user(std::stoull(phone.substr(1))) {
    wa::crypto::random_fill(adv);
  }

  std::string id() {
    // (not "q" + std::to_string: GCC 12 reports a -Wrestrict false positive for it)
    std::string s = "q";
    s += std::to_string(++next_id);
    return s;
  }

  // Registration, QR link through the admin API, pair-device-sign, 515.
  void pair(const WasimProcess& w) {
    auto r = http_request(w.admin_port(), "POST", "/admin/phones", "{\"phone\":\"" + phone + "\"}");
    REQUIRE(r.status == 201);
    auto store = wa::test::MemorySignalStore::generate(8);
    const KeyPair identity = store.local.identity;
    auto reg = std::make_unique<WaTestClient>(w.ws_port(), 3);
    wa::crypto::Key32 server_static{};
    reg->handshake(noise, registration_payload(identity), server_static);
    Node iq = next(*reg);
    const Node* pd = iq.child("pair-device");
    REQUIRE(pd);
    const std::string ref = text(kids(*pd).at(0));
    reg->send_node(
        Node{"iq", {{"to", kServer}, {"type", std::string("result")}, {"id", attr(iq, "id")}}, {}});
    auto b64 = [](const wa::crypto::Key32& k) { return wa::crypto::base64_encode(k); };
    const std::string qr = ref + "," + b64(noise.pub) + "," + b64(identity.pub) + "," + b64(adv) + ",9";
    r = http_request(w.admin_port(), "POST", "/admin/phones/" + phone + "/link", "{\"qr\":\"" + qr + "\"}");
    INFO(r.body);
    REQUIRE(r.status == 200);
    Node ps_iq = next(*reg);
    const Node* ps = ps_iq.child("pair-success");
    REQUIRE(ps);
    wa::proto::ADVSignedDeviceIdentityHMAC h;
    const Bytes& di = *ps->child("device-identity")->bytes();
    REQUIRE(h.ParseFromArray(di.data(), static_cast<int>(di.size())));
    wa::proto::ADVSignedDeviceIdentity a;
    REQUIRE(a.ParseFromString(h.details()));
    wa::proto::ADVDeviceIdentity d;
    REQUIRE(d.ParseFromString(a.details()));
    jid = attr(*ps->child("device"), "jid");
    Bytes to_sign = {6, 1};
    to_sign.insert(to_sign.end(), a.details().begin(), a.details().end());
    to_sign.insert(to_sign.end(), identity.pub.begin(), identity.pub.end());
    to_sign.insert(to_sign.end(), a.account_signature_key().begin(), a.account_signature_key().end());
    const Bytes sig = wa::crypto::xeddsa_sign(identity.priv, to_sign);
    a.set_device_signature(sig.data(), sig.size());
    a.clear_account_signature_key();
    const std::string reply = a.SerializeAsString();
    reg->send_node(Node{"iq",
                        {{"to", kServer}, {"type", std::string("result")}, {"id", attr(ps_iq, "id")}},
                        NodeList{Node{"pair-device-sign",
                                      {},
                                      NodeList{Node{"device-identity",
                                                    {{"key-index", std::to_string(d.key_index())}},
                                                    Bytes(reply.begin(), reply.end())}}}}});
    Node err = next(*reg);
    REQUIRE(err.tag == "stream:error");
    REQUIRE(attr(err, "code") == "515");
    auto j = Jid::parse(jid);
    REQUIRE(j);
    party = std::make_unique<wa::test::Party>(wa::signal::Address::from_jid(*j), std::move(store));
  }

  // Logs in; returns the offline batch (every stanza before <ib><offline count/>).
  std::vector<Node> login(const WasimProcess& w) {
    conn = std::make_unique<WaTestClient>(w.ws_port(), 3);
    wa::crypto::Key32 server_static{};
    auto j = Jid::parse(jid);
    conn->handshake(noise, login_payload(user, *j->device), server_static);
    REQUIRE(next(*conn).tag == "success");
    std::vector<Node> batch;
    while (true) {
      Node n = next(*conn);
      if (n.tag == "ib") {
        REQUIRE(n.child("offline"));
        CHECK(attr(*n.child("offline"), "count") == std::to_string(batch.size()));
        return batch;
      }
      batch.push_back(n);
    }
  }

  Node request(Node iq) {
    const std::string want = attr(iq, "id");
    conn->send_node(iq);
    Node r = next(*conn);
    REQUIRE(r.tag == "iq");
    REQUIRE(attr(r, "id") == want);
    return r;
  }

  void upload_keys() {
    wa::client::DeviceKeys dk;
    dk.identity_key = party->store.local.identity;
    dk.registration_id = party->store.local.registration_id;
    dk.signed_pre_key = {party->store.signed_pre_key.id, party->store.signed_pre_key.pair,
                         party->store.signed_pre_key.signature};
    std::vector<wa::client::PreKey> keys;
    for (const auto& [kid, pair] : party->store.pre_keys) keys.push_back({kid, pair, false});
    Node r = request(wa::client::pre_key_upload(id(), dk, keys));
    REQUIRE(attr(r, "type") == "result");
  }

  std::size_t server_count() {
    Node r = request(wa::client::pre_key_count(id()));
    return std::stoul(attr(*r.child("count"), "value"));
  }

  // usync device list of `user`: the device ids.
  std::vector<std::string> devices_of(std::uint64_t other) {
    Node q{
        "iq",
        {{"id", id()}, {"xmlns", std::string("usync")}, {"type", std::string("get")}, {"to", kServer}},
        NodeList{Node{
            "usync",
            {{"sid", std::string("s1")}, {"mode", std::string("query")}, {"context", std::string("message")}},
            NodeList{
                Node{"query", {}, NodeList{Node{"devices", {{"version", std::string("2")}}, {}}}},
                Node{"list",
                     {},
                     NodeList{Node{"user", {{"jid", std::to_string(other) + "@s.whatsapp.net"}}, {}}}}}}}};
    Node r = request(q);
    const Node* list = r.child("usync") ? r.child("usync")->child("list") : nullptr;
    REQUIRE(list);
    std::vector<std::string> out;
    for (const auto& u : kids(*list))
      for (const auto& dev : kids(*u.child("devices")->child("device-list"))) {
        if (attr(dev, "id") != "0") CHECK(attr(dev, "key-index") == attr(dev, "id"));
        out.push_back(attr(dev, "id"));
      }
    return out;
  }

  // Fetches the bundle of `device_jid` and builds a session with it (X3DH).
  void fetch_session(const std::string& device_jid) {
    Node q{"iq",
           {{"id", id()}, {"xmlns", std::string("encrypt")}, {"type", std::string("get")}, {"to", kServer}},
           NodeList{
               Node{"key",
                    {},
                    NodeList{Node{"user", {{"jid", device_jid}, {"reason", std::string("identity")}}, {}}}}}};
    auto bundles = wa::signal::parse_bundle_response(request(q));
    REQUIRE(bundles.size() == 1);
    INFO(bundles[0].error);
    REQUIRE(bundles[0].bundle);
    CHECK(bundles[0].bundle->pre_key);
    wa::signal::process_bundle(party->proto, addr(device_jid), *bundles[0].bundle);
  }

  static wa::signal::Address addr(const std::string& jid) {
    return wa::signal::Address::from_jid(*Jid::parse(jid));
  }

  Node enc_for(const std::string& device_jid, const std::string& body) {
    auto ct = wa::signal::encrypt(party->proto, addr(device_jid),
                                  wa::signal::pad(wa::client::encode_text_message(body)));
    return Node{
        "enc", {{"v", std::string("2")}, {"type", std::string(wa::signal::to_string(ct.type))}}, ct.data};
  }

  // A DM to `to_user` with one <to> per device: the stanza's id.
  std::string send_dm(std::uint64_t to_user, NodeList tos) {
    std::string mid = "3EB0";
    mid += std::to_string(++next_id);
    conn->send_node(Node{
        "message",
        {{"id", mid}, {"to", std::to_string(to_user) + "@s.whatsapp.net"}, {"type", std::string("text")}},
        NodeList{Node{"participants", {}, std::move(tos)}}});
    return mid;
  }

  // Decrypts a pairwise enc from `from_jid`: the text.
  std::string open(const Node& enc, const std::string& from_jid) {
    const auto type =
        attr(enc, "type") == "pkmsg" ? wa::signal::CiphertextType::pkmsg : wa::signal::CiphertextType::msg;
    auto plain = wa::signal::decrypt(party->proto, addr(from_jid), type, *enc.bytes());
    return wa::client::decode_message(wa::signal::unpad(plain)).text.value_or("");
  }
};

Node to_node(const std::string& device_jid, Node enc) {
  return Node{"to", {{"jid", device_jid}}, NodeList{std::move(enc)}};
}

void expect_ack(Peer& p, const std::string& id, const std::string& error = "") {
  Node ack = next(*p.conn);
  REQUIRE(ack.tag == "ack");
  CHECK(attr(ack, "class") == "message");
  CHECK(attr(ack, "id") == id);
  CHECK(attr(ack, "error") == error);
}

// Nothing arrives within `wait` (the connection stays open).
void expect_silence(Peer& p, std::chrono::milliseconds wait = 300ms) {
  CHECK_THROWS_AS(p.conn->recv_node(wait), std::runtime_error);
}

}  // namespace

TEST_CASE("wasim routes a real pkmsg live, then msg both ways, and relays receipts", "[sim][messages]") {
  TempDir dir;
  WasimProcess w(dir.path(), kPn);
  Peer a("+15550011"), b("+15550022");
  a.pair(w);
  b.pair(w);
  CHECK(a.login(w).empty());
  CHECK(b.login(w).empty());
  CHECK(a.server_count() == 0);
  a.upload_keys();
  b.upload_keys();
  CHECK(b.server_count() == 8);
  CHECK(a.devices_of(b.user) == std::vector<std::string>{"0", "1"});  // the phone and b
  CHECK(a.devices_of(15559999999ull).empty());

  // A msg to a device that never got a pkmsg from a is refused; b sees nothing.
  const std::string bad = a.send_dm(
      b.user,
      {to_node(b.jid, Node{"enc", {{"v", std::string("2")}, {"type", std::string("msg")}}, Bytes(40, 7)})});
  expect_ack(a, bad, "409");
  expect_silence(b);

  a.fetch_session(b.jid);
  CHECK(b.server_count() == 7);  // the one-time key was handed out once
  Node enc = a.enc_for(b.jid, "hello über wasim");
  CHECK(attr(enc, "type") == "pkmsg");
  const std::string m1 = a.send_dm(b.user, {to_node(b.jid, enc)});
  expect_ack(a, m1);
  Node got = next(*b.conn);
  REQUIRE(got.tag == "message");
  CHECK(attr(got, "id") == m1);
  CHECK(attr(got, "from") == a.jid);
  CHECK(attr(got, "offline").empty());
  CHECK(b.open(*got.child("enc"), a.jid) == "hello über wasim");

  // b's delivery receipt goes to a's device; b gets the server ack for it.
  b.conn->send_node(Node{"receipt", {{"id", m1}, {"to", a.jid}}, {}});
  Node rack = next(*b.conn);
  CHECK(rack.tag == "ack");
  CHECK(attr(rack, "class") == "receipt");
  Node receipt = next(*a.conn);
  REQUIRE(receipt.tag == "receipt");
  CHECK(attr(receipt, "id") == m1);
  CHECK(attr(receipt, "from") == b.jid);
  a.conn->send_node(Node{"ack", {{"class", std::string("receipt")}, {"id", m1}, {"to", b.jid}}, {}});

  // b answers on the session the pkmsg made: a msg, allowed now, decrypted by a.
  Node reply = b.enc_for(a.jid, "and back");
  CHECK(attr(reply, "type") == "msg");
  const std::string m2 = b.send_dm(a.user, {to_node(a.jid, reply)});
  expect_ack(b, m2);
  Node back = next(*a.conn);
  REQUIRE(back.tag == "message");
  CHECK(a.open(*back.child("enc"), b.jid) == "and back");
  // Then a's msg (its session is confirmed) goes through as well.
  Node again = a.enc_for(b.jid, std::string(60000, 'x'));
  CHECK(attr(again, "type") == "msg");
  const std::string m3 = a.send_dm(b.user, {to_node(b.jid, again)});
  expect_ack(a, m3);
  Node big = next(*b.conn);
  CHECK(b.open(*big.child("enc"), a.jid) == std::string(60000, 'x'));

  // A resend after a retry receipt goes to the one device, enc at the top level (reference §4.6).
  b.conn->send_node(Node{"receipt",
                         {{"id", m3}, {"to", a.jid}, {"type", std::string("retry")}},
                         NodeList{Node{"retry", {{"count", std::string("1")}, {"id", m3}}, {}}}});
  CHECK(next(*b.conn).tag == "ack");
  Node retry = next(*a.conn);
  CHECK(attr(retry, "type") == "retry");
  REQUIRE(retry.child("retry"));
  a.conn->send_node(Node{"message",
                         {{"id", m3}, {"to", *Jid::parse(b.jid)}, {"type", std::string("text")}},
                         NodeList{a.enc_for(b.jid, "resent")}});
  expect_ack(a, m3);
  Node resent = next(*b.conn);
  CHECK(attr(resent, "from") == a.jid);
  CHECK(b.open(*resent.child("enc"), a.jid) == "resent");

  // A <to> outside the chat and a malformed upload are refused.
  const std::string m4 = a.send_dm(b.user, {to_node("15550033:1@s.whatsapp.net", a.enc_for(b.jid, "x"))});
  expect_ack(a, m4, "400");
  Node bad_up = a.request(
      Node{"iq",
           {{"id", a.id()}, {"xmlns", std::string("encrypt")}, {"type", std::string("set")}, {"to", kServer}},
           NodeList{Node{"list", {}, NodeList{Node{"key", {}, {}}}}}});
  CHECK(attr(bad_up, "type") == "error");
}

TEST_CASE("a message for an offline device waits, survives a restart, and comes until acked",
          "[sim][messages][state]") {
  TempDir dir;
  Peer a("+15550111"), b("+15550222");
  std::string m1;
  {
    WasimProcess w(dir.path(), kPn);
    a.pair(w);
    b.pair(w);
    a.login(w);
    b.login(w);
    a.upload_keys();
    b.upload_keys();
    b.conn.reset();  // b goes offline
    a.fetch_session(b.jid);
    m1 = a.send_dm(b.user, {to_node(b.jid, a.enc_for(b.jid, "while you were away"))});
    expect_ack(a, m1);
    CHECK(w.terminate() == 0);
  }
  WasimProcess w(dir.path(), kPn);  // same state dir: devices, keys, queue, sessions reload
  auto batch = b.login(w);
  REQUIRE(batch.size() == 1);
  CHECK(attr(batch[0], "id") == m1);
  CHECK(attr(batch[0], "offline") == "1");
  CHECK(b.server_count() == 7);
  // Not acked: the next login gets it again (b has not decrypted it yet, so the same bytes work).
  batch = b.login(w);
  REQUIRE(batch.size() == 1);
  CHECK(b.open(*batch[0].child("enc"), a.jid) == "while you were away");
  b.conn->send_node(Node{"ack", {{"class", std::string("message")}, {"id", m1}, {"to", a.jid}}, {}});
  expect_silence(b);
  CHECK(b.login(w).empty());
  // The session recorded before the restart still lets b answer with a msg.
  a.login(w);
  const std::string m2 = b.send_dm(a.user, {to_node(a.jid, b.enc_for(a.jid, "back"))});
  expect_ack(b, m2);
  Node back = next(*a.conn);
  CHECK(a.open(*back.child("enc"), b.jid) == "back");
}

TEST_CASE("groups: admin create, w:g2 participants, skmsg fan-out with the SKDM pairwise",
          "[sim][messages][groups]") {
  TempDir dir;
  WasimProcess w(dir.path(), kPn);
  Peer a("+15550301"), b("+15550302"), c("+15550303");
  for (Peer* p : {&a, &b, &c}) {
    p->pair(w);
    p->login(w);
    p->upload_keys();
  }
  const int port = w.admin_port();
  CHECK(http_request(port, "POST", "/admin/groups", "{\"subject\":\"x\"}").status == 400);
  CHECK(http_request(port, "POST", "/admin/groups",
                     "{\"subject\":\"x\",\"participants\":[\"15559990000@s.whatsapp.net\"]}")
            .status == 404);
  CHECK(http_request(port, "POST", "/admin/groups",
                     "{\"subject\":\"x\",\"participants\":[\"1:2@s.whatsapp.net\"]}")
            .status == 400);
  auto r = http_request(
      port, "POST", "/admin/groups",
      "{\"subject\":\"team\",\"participants\":[\"15550301@s.whatsapp.net\",\"15550302@s.whatsapp.net\"]}");
  INFO(r.body);
  REQUIRE(r.status == 201);
  const std::string group = json_field(r.body, "jid").value_or("");
  REQUIRE(group.size() > 5);
  CHECK(group.substr(group.size() - 5) == "@g.us");

  Node info = a.request(Node{"iq",
                             {{"id", a.id()},
                              {"xmlns", std::string("w:g2")},
                              {"type", std::string("get")},
                              {"to", *Jid::parse(group)}},
                             NodeList{Node{"query", {{"request", std::string("interactive")}}, {}}}});
  REQUIRE(info.child("group"));
  CHECK(attr(*info.child("group"), "subject") == "team");
  std::vector<std::string> members;
  for (const auto& p : kids(*info.child("group"))) members.push_back(attr(p, "jid"));
  CHECK(members == std::vector<std::string>{"15550301@s.whatsapp.net", "15550302@s.whatsapp.net"});
  Node no = c.request(Node{"iq",
                           {{"id", c.id()},
                            {"xmlns", std::string("w:g2")},
                            {"type", std::string("get")},
                            {"to", *Jid::parse(group)}},
                           NodeList{Node{"query", {}, {}}}});
  CHECK(attr(no, "type") == "error");

  // a: SKDM pairwise to b (pkmsg), skmsg for everyone.
  const wa::signal::SenderKeyName name{group, a.party->addr};
  const Bytes skdm = wa::signal::create_sender_key_distribution(a.party->proto, name);
  a.fetch_session(b.jid);
  auto ct = wa::signal::encrypt(a.party->proto, Peer::addr(b.jid),
                                wa::signal::pad(wa::client::encode_sender_key_distribution(group, skdm)));
  const Bytes skmsg = wa::signal::group_encrypt(a.party->proto, name,
                                                wa::signal::pad(wa::client::encode_text_message("hi team")));
  const std::string mid = "3EB0GROUP1";
  a.conn->send_node(Node{
      "message",
      {{"id", mid}, {"to", *Jid::parse(group)}, {"type", std::string("text")}},
      NodeList{
          Node{"participants",
               {},
               NodeList{to_node(
                   b.jid, Node{"enc", {{"v", std::string("2")}, {"type", std::string("pkmsg")}}, ct.data})}},
          Node{"enc", {{"v", std::string("2")}, {"type", std::string("skmsg")}}, skmsg}}});
  expect_ack(a, mid);
  Node got = next(*b.conn);
  REQUIRE(got.tag == "message");
  CHECK(attr(got, "from") == group);
  CHECK(attr(got, "participant") == a.jid);
  REQUIRE(kids(got).size() == 2);
  const Node& pair_enc = kids(got)[0];
  const Node& group_enc = kids(got)[1];
  CHECK(attr(group_enc, "type") == "skmsg");
  auto plain = wa::signal::decrypt(b.party->proto, Peer::addr(a.jid), wa::signal::CiphertextType::pkmsg,
                                   *pair_enc.bytes());
  auto content = wa::client::decode_message(wa::signal::unpad(plain));
  REQUIRE(content.sender_key_distribution);
  wa::signal::process_sender_key_distribution(b.party->proto, name,
                                              content.sender_key_distribution->distribution);
  auto text_plain = wa::signal::group_decrypt(b.party->proto, name, *group_enc.bytes());
  CHECK(wa::client::decode_message(wa::signal::unpad(text_plain)).text == "hi team");
  expect_silence(c);  // not a member
  // A non-member cannot post.
  c.conn->send_node(
      Node{"message",
           {{"id", std::string("3EB0C")}, {"to", *Jid::parse(group)}, {"type", std::string("text")}},
           NodeList{Node{"enc", {{"v", std::string("2")}, {"type", std::string("skmsg")}}, skmsg}}});
  expect_ack(c, "3EB0C", "403");
}

TEST_CASE(
    "a virtual phone chats with a companion through the admin API, 1:1 and in a group, across a restart",
    "[sim][messages][phones]") {
  TempDir dir;
  Peer a("+15550401");
  const std::string q_jid = "15550402@s.whatsapp.net";  // the phone's primary device (0)
  std::string group;
  {
    WasimProcess w(dir.path(), kPn);
    const int port = w.admin_port();
    a.pair(w);
    a.login(w);
    a.upload_keys();
    REQUIRE(http_request(port, "POST", "/admin/phones", "{\"phone\":\"+15550402\"}").status == 201);
    CHECK(http_request(port, "POST", "/admin/phones/+15550402/messages",
                       "{\"to\":\"+15550402\",\"text\":\"me\"}")
              .status == 400);
    CHECK(http_request(port, "POST", "/admin/phones/+15550499/messages",
                       "{\"to\":\"+15550401\",\"text\":\"x\"}")
              .status == 404);
    CHECK(http_request(port, "POST", "/admin/phones/+15550402/messages", "{\"to\":\"+15550401\"}").status ==
          400);

    auto r = http_request(port, "POST", "/admin/phones/+15550402/messages",
                          "{\"to\":\"+15550401\",\"text\":\"hi from the phone\"}");
    INFO(r.body);
    REQUIRE(r.status == 200);
    CHECK(json_field(r.body, "devices") == std::optional<std::string>("2"));  // a and its phone
    Node got = next_message(*a.conn);
    REQUIRE(got.tag == "message");
    CHECK(attr(got, "from") == q_jid);
    CHECK(attr(*got.child("enc"), "type") == "pkmsg");
    CHECK(a.open(*got.child("enc"), q_jid) == "hi from the phone");
    CHECK(a.devices_of(15550402) == std::vector<std::string>{"0"});

    const std::string m = a.send_dm(15550402, {to_node(q_jid, a.enc_for(q_jid, "hello back"))});
    expect_ack(a, m);
    auto inbox = http_request(port, "GET", "/admin/phones/+15550402/messages");
    INFO(inbox.body);
    CHECK(inbox.status == 200);
    CHECK(inbox.body.find("\"text\":\"hello back\"") != std::string::npos);
    CHECK(inbox.body.find("\"error\":null") != std::string::npos);

    // A group of the two: the phone's text arrives as SKDM (pairwise) + skmsg; a's answer the same way.
    r = http_request(port, "POST", "/admin/groups",
                     "{\"subject\":\"duo\",\"participants\":[\"+15550402\",\"+15550401\"]}");
    REQUIRE(r.status == 201);
    group = json_field(r.body, "jid").value_or("");
    r = http_request(port, "POST", "/admin/phones/+15550402/messages",
                     "{\"to\":\"" + group + "\",\"text\":\"group hello\"}");
    INFO(r.body);
    REQUIRE(r.status == 200);
    Node gm = next_message(*a.conn);
    REQUIRE(gm.tag == "message");
    CHECK(attr(gm, "participant") == q_jid);
    REQUIRE(kids(gm).size() == 2);
    const wa::signal::SenderKeyName q_name{group, Peer::addr(q_jid)};
    auto skdm_plain = wa::signal::decrypt(a.party->proto, Peer::addr(q_jid), wa::signal::CiphertextType::msg,
                                          *kids(gm)[0].bytes());
    auto skdm = wa::client::decode_message(wa::signal::unpad(skdm_plain));
    REQUIRE(skdm.sender_key_distribution);
    wa::signal::process_sender_key_distribution(a.party->proto, q_name,
                                                skdm.sender_key_distribution->distribution);
    CHECK(wa::client::decode_message(
              wa::signal::unpad(wa::signal::group_decrypt(a.party->proto, q_name, *kids(gm)[1].bytes())))
              .text == "group hello");
    const wa::signal::SenderKeyName a_name{group, a.party->addr};
    const Bytes a_skdm = wa::signal::create_sender_key_distribution(a.party->proto, a_name);
    auto ct = wa::signal::encrypt(a.party->proto, Peer::addr(q_jid),
                                  wa::signal::pad(wa::client::encode_sender_key_distribution(group, a_skdm)));
    a.conn->send_node(Node{
        "message",
        {{"id", std::string("3EB0G2")}, {"to", *Jid::parse(group)}, {"type", std::string("text")}},
        NodeList{Node{"participants",
                      {},
                      NodeList{to_node(q_jid, Node{"enc",
                                                   {{"v", std::string("2")},
                                                    {"type", std::string(wa::signal::to_string(ct.type))}},
                                                   ct.data})}},
                 Node{"enc",
                      {{"v", std::string("2")}, {"type", std::string("skmsg")}},
                      wa::signal::group_encrypt(
                          a.party->proto, a_name,
                          wa::signal::pad(wa::client::encode_text_message("group answer")))}}});
    expect_ack(a, "3EB0G2");
    inbox = http_request(port, "GET", "/admin/phones/+15550402/messages");
    INFO(inbox.body);
    CHECK(inbox.body.find("\"text\":\"group answer\"") != std::string::npos);
    CHECK(inbox.body.find("\"chat\":\"" + group + "\"") != std::string::npos);
    CHECK(w.terminate() == 0);
  }
  // After a restart the phone still has its sessions: its next text is a msg a can open.
  WasimProcess w(dir.path(), kPn);
  a.login(w);
  auto r = http_request(w.admin_port(), "POST", "/admin/phones/+15550402/messages",
                        "{\"to\":\"15550401@s.whatsapp.net\",\"text\":\"still here\"}");
  INFO(r.body);
  REQUIRE(r.status == 200);
  Node got = next_message(*a.conn);
  CHECK(attr(*got.child("enc"), "type") == "msg");
  CHECK(a.open(*got.child("enc"), q_jid) == "still here");
}

TEST_CASE("LID addressing: usync lid, a DM to a LID, sender_pn / peer_recipient_pn, LID groups, receipts",
          "[sim][messages][lid]") {
  TempDir dir;
  WasimProcess w(dir.path());  // auto: a dictionary-3 client is served LID-addressed
  Peer a("+15550601"), b("+15550602");
  a.pair(w);
  b.pair(w);
  a.login(w);
  b.login(w);
  a.upload_keys();
  b.upload_keys();
  const int port = w.admin_port();
  auto phone_b = http_request(port, "GET", "/admin/phones/+15550602");
  const std::string b_lid = json_field(phone_b.body, "lid").value_or("");
  auto a_lid_user = json_field(http_request(port, "GET", "/admin/phones/+15550601").body, "lid").value_or("");
  REQUIRE(b_lid.size() > 4);
  CHECK(b_lid.substr(b_lid.size() - 4) == "@lid");
  CHECK(b_lid.find("15550602") == std::string::npos);

  // usync <lid/> names the same LID.
  Node q{"iq",
         {{"id", a.id()}, {"xmlns", std::string("usync")}, {"type", std::string("get")}, {"to", kServer}},
         NodeList{Node{
             "usync",
             {{"sid", std::string("s1")}, {"mode", std::string("query")}},
             NodeList{Node{"query", {}, NodeList{Node{"lid", {}, {}}}},
                      Node{"list",
                           {},
                           NodeList{Node{"user", {{"jid", std::string("15550602@s.whatsapp.net")}}, {}}}}}}}};
  Node ur = a.request(q);
  const Node& user = kids(*ur.child("usync")->child("list")).at(0);
  CHECK(attr(*user.child("lid"), "val") == b_lid);

  // a writes to b's LID device; b sees a's LID device with sender_pn.
  const std::string b_lid_dev = b_lid.substr(0, b_lid.size() - 4) + ":1@lid";
  const std::string a_lid_dev = a_lid_user.substr(0, a_lid_user.size() - 4) + ":1@lid";
  a.fetch_session(b_lid_dev);
  std::string mid = "3EB0L1";
  a.conn->send_node(Node{
      "message",
      {{"id", mid}, {"to", *Jid::parse(b_lid)}, {"type", std::string("text")}},
      NodeList{Node{"participants", {}, NodeList{to_node(b_lid_dev, a.enc_for(b_lid_dev, "über LID"))}}}});
  expect_ack(a, mid);
  Node got = next(*b.conn);
  REQUIRE(got.tag == "message");
  CHECK(attr(got, "from") == a_lid_dev);
  CHECK(attr(got, "sender_pn") == "15550601@s.whatsapp.net");
  CHECK(attr(got, "addressing_mode") == "lid");
  CHECK(b.open(*got.child("enc"), a_lid_dev) == "über LID");

  // b's receipt names a's LID device; a gets it from b's LID device.
  b.conn->send_node(Node{"receipt", {{"id", mid}, {"to", *Jid::parse(a_lid_dev)}}, {}});
  CHECK(next(*b.conn).tag == "ack");
  Node receipt = next(*a.conn);
  REQUIRE(receipt.tag == "receipt");
  CHECK(attr(receipt, "from") == b_lid_dev);

  // b's phone writes to a: from the phone's LID; b (its companion) gets the DeviceSentMessage
  // copy with recipient = a's LID and peer_recipient_pn.
  auto r = http_request(port, "POST", "/admin/phones/+15550602/messages",
                        "{\"to\":\"" + a_lid_user + "\",\"text\":\"from b's phone\"}");
  INFO(r.body);
  REQUIRE(r.status == 200);
  Node pm = next_message(*a.conn);
  CHECK(attr(pm, "from") == b_lid);
  CHECK(attr(pm, "sender_pn") == "15550602@s.whatsapp.net");
  CHECK(a.open(*pm.child("enc"), b_lid) == "from b's phone");
  Node copy = next_message(*b.conn);
  CHECK(attr(copy, "from") == b_lid);
  CHECK(attr(copy, "recipient") == a_lid_user);
  CHECK(attr(copy, "peer_recipient_pn") == "15550601@s.whatsapp.net");
  auto plain = wa::signal::decrypt(b.party->proto, Peer::addr(b_lid), wa::signal::CiphertextType::pkmsg,
                                   *copy.child("enc")->bytes());
  auto dsm = wa::client::decode_message(wa::signal::unpad(plain));
  CHECK(dsm.device_sent_destination == std::optional<std::string>("15550601@s.whatsapp.net"));
  CHECK(dsm.text == std::optional<std::string>("from b's phone"));

  // a's phone got the message too (a's account), decrypted it and sent its delivery receipt,
  // which reaches the author's companion b.
  Node dr = next(*b.conn);
  while (dr.tag != "receipt") dr = next(*b.conn);
  CHECK(attr(dr, "from") == a_lid_user);
  CHECK(attr(dr, "type").empty());
  // A read receipt on request reaches the author too.
  r = http_request(port, "POST", "/admin/phones/+15550601/read",
                   "{\"ids\":[\"" + json_field(r.body, "id").value_or("") + "\"]}");
  INFO(r.body);
  CHECK(r.status == 200);
  Node rr = next(*b.conn);
  while (rr.tag != "receipt" || attr(rr, "type") != "read") rr = next(*b.conn);
  CHECK(attr(rr, "from") == a_lid_user);
  // w:g2 of a LID group lists LIDs with phone_number.
  r = http_request(port, "POST", "/admin/groups",
                   "{\"subject\":\"lid\",\"participants\":[\"+15550601\",\"+15550602\"]}");
  REQUIRE(r.status == 201);
  const std::string group = json_field(r.body, "jid").value_or("");
  Node gi = a.request(Node{"iq",
                           {{"id", a.id()},
                            {"xmlns", std::string("w:g2")},
                            {"type", std::string("get")},
                            {"to", *Jid::parse(group)}},
                           NodeList{Node{"query", {{"request", std::string("interactive")}}, {}}}});
  const Node* g = gi.child("group");
  REQUIRE(g);
  CHECK(attr(*g, "addressing_mode") == "lid");
  REQUIRE(kids(*g).size() == 2);
  CHECK(attr(kids(*g)[0], "jid") == a_lid_user);
  CHECK(attr(kids(*g)[0], "phone_number") == "15550601@s.whatsapp.net");
}

TEST_CASE("a group resend after a retry receipt (to=group participant=device) reaches that device only",
          "[sim][messages][groups]") {
  TempDir dir;
  WasimProcess w(dir.path(), kPn);
  Peer a("+15550701"), b("+15550702"), c("+15550703");
  for (Peer* p : {&a, &b, &c}) {
    p->pair(w);
    p->login(w);
    p->upload_keys();
  }
  auto r =
      http_request(w.admin_port(), "POST", "/admin/groups",
                   "{\"subject\":\"resend\",\"participants\":[\"+15550701\",\"+15550702\",\"+15550703\"]}");
  REQUIRE(r.status == 201);
  const std::string group = json_field(r.body, "jid").value_or("");
  a.fetch_session(b.jid);
  a.conn->send_node(Node{"message",
                         {{"id", std::string("3EB0RS")},
                          {"to", *Jid::parse(group)},
                          {"participant", *Jid::parse(b.jid)},
                          {"type", std::string("text")}},
                         NodeList{a.enc_for(b.jid, "resent to b")}});
  expect_ack(a, "3EB0RS");
  Node got = next_message(*b.conn);
  CHECK(attr(got, "from") == group);
  CHECK(attr(got, "participant") == a.jid);
  CHECK(b.open(*got.child("enc"), a.jid) == "resent to b");
  expect_silence(c);
  // A participant outside the group is refused.
  a.conn->send_node(Node{"message",
                         {{"id", std::string("3EB0RX")},
                          {"to", *Jid::parse(group)},
                          {"participant", *Jid::parse("15550799:1@s.whatsapp.net")},
                          {"type", std::string("text")}},
                         NodeList{a.enc_for(b.jid, "x")}});
  expect_ack(a, "3EB0RX", "400");
}
