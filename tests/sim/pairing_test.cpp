// wasim's virtual phones end to end against the real binary: phones (+4xx), QR linking with a
// QR built here from keys this test holds, pair-success checked from the client's side (HMAC,
// account signature), pair-device-sign, 515, login <success>, pre-key count/upload, one live
// connection per device (replaced), the per-device connection list, logout, stream-error drills,
// ref expiry, devices surviving a restart, and pair-code linking.
#include <catch2/catch.hpp>

#include <future>

#include "core/binary/jid.h"
#include "core/client/pair_code.h"
#include "core/client/prekey_fetch.h"
#include "core/client/stanzas.h"
#include "core/crypto/base64.h"
#include "core/crypto/digest.h"
#include "core/crypto/random.h"
#include "core/crypto/xeddsa.h"
#include "tests/sim/harness.h"
#include "wa_adv.pb.h"

using namespace wa::simtest;
using wa::binary::Node;
using wa::binary::NodeList;
using wa::crypto::Bytes;
using wa::crypto::KeyPair;

namespace {

Node server_iq(const std::string& type, const std::string& id, NodeList children = {}) {
  Node n{"iq", {{"to", wa::binary::Jid{"", "s.whatsapp.net", 0, std::nullopt, 0}}, {"type", type}, {"id", id}}, {}};
  if (!children.empty()) n.content = std::move(children);
  return n;
}

std::string text(const Node& n) {
  if (auto b = n.bytes()) return std::string(b->begin(), b->end());
  if (auto s = std::get_if<std::string>(&n.content)) return *s;
  return {};
}

// Next node that is not an ack/notification noise; fails the test on a close.
Node next_node(WaTestClient& c, std::chrono::milliseconds timeout = 5000ms) {
  auto n = c.recv_node(timeout);
  REQUIRE(n.has_value());
  return *n;
}

// A companion that registers, shows a QR, answers pair-success as whatsmeow does.
struct Companion {
  KeyPair noise = KeyPair::generate();
  KeyPair identity = KeyPair::generate();
  wa::crypto::Key32 adv{};
  std::vector<std::string> refs;
  std::unique_ptr<WaTestClient> conn;

  Companion() { wa::crypto::random_fill(adv); }

  void register_with(const WasimProcess& w) {
    conn = std::make_unique<WaTestClient>(w.ws_port(), 3);
    wa::crypto::Key32 server_static{};
    conn->handshake(noise, registration_payload(identity), server_static);
    Node iq = next_node(*conn);
    REQUIRE(iq.tag == "iq");
    const Node* pd = iq.child("pair-device");
    REQUIRE(pd != nullptr);
    refs.clear();
    for (const auto& r : std::get<NodeList>(pd->content)) refs.push_back(text(r));
    REQUIRE(refs.size() == 6);
    conn->send_node(server_iq("result", iq.attr_text("id").value_or("")));
  }
  std::string qr(std::size_t i = 0, const wa::crypto::Key32* other_noise = nullptr) const {
    auto b64 = [](const wa::crypto::Key32& k) { return wa::crypto::base64_encode(k); };
    return "https://wa.me/settings/linked_devices#" + refs.at(i) + "," + b64(other_noise ? *other_noise : noise.pub) + "," +
           b64(identity.pub) + "," + b64(adv) + ",9";
  }
  // Checks pair-success as a client must (§6.4) and answers pair-device-sign; returns the jid.
  std::string answer_pair_success(const std::string& account_pub_hex, bool forge_signature = false) {
    Node iq = next_node(*conn);
    REQUIRE(iq.tag == "iq");
    const Node* ps = iq.child("pair-success");
    REQUIRE(ps != nullptr);
    const Node* di = ps->child("device-identity");
    REQUIRE(di);
    REQUIRE(di->bytes());
    wa::proto::ADVSignedDeviceIdentityHMAC h;
    REQUIRE(h.ParseFromArray(di->bytes()->data(), static_cast<int>(di->bytes()->size())));
    const auto mac = wa::crypto::hmac_sha256(adv, wa::crypto::view(h.details()));
    CHECK(std::string(mac.begin(), mac.end()) == h.hmac());
    // Another adv secret would not match: the HMAC really is keyed by ours.
    wa::crypto::Key32 other{};
    CHECK(wa::crypto::hmac_sha256(other, wa::crypto::view(h.details())) != mac);
    wa::proto::ADVSignedDeviceIdentity a;
    REQUIRE(a.ParseFromString(h.details()));
    wa::proto::ADVDeviceIdentity d;
    REQUIRE(d.ParseFromString(a.details()));
    REQUIRE(a.account_signature_key().size() == 32);
    CHECK(wa::crypto::to_hex(wa::crypto::view(a.account_signature_key())) == account_pub_hex);
    Bytes msg = {6, 0};
    msg.insert(msg.end(), a.details().begin(), a.details().end());
    msg.insert(msg.end(), identity.pub.begin(), identity.pub.end());
    const auto account_key = wa::crypto::key32_from(wa::crypto::view(a.account_signature_key()));
    CHECK(wa::crypto::xeddsa_verify(account_key, msg, wa::crypto::view(a.account_signature())));
    msg[1] = 5;  // the hosted prefix must not verify
    CHECK_FALSE(wa::crypto::xeddsa_verify(account_key, msg, wa::crypto::view(a.account_signature())));
    const Node* dev = ps->child("device");
    REQUIRE(dev);
    const std::string jid = dev->attr_text("jid").value_or("");
    // The device signature over 06 01 || details || identity || account key.
    Bytes to_sign = {6, 1};
    to_sign.insert(to_sign.end(), a.details().begin(), a.details().end());
    to_sign.insert(to_sign.end(), identity.pub.begin(), identity.pub.end());
    to_sign.insert(to_sign.end(), account_key.begin(), account_key.end());
    const Bytes sig = wa::crypto::xeddsa_sign(forge_signature ? KeyPair::generate().priv : identity.priv, to_sign);
    a.set_device_signature(sig.data(), sig.size());
    a.clear_account_signature_key();
    const std::string reply = a.SerializeAsString();
    Node sign{"pair-device-sign", {},
              NodeList{Node{"device-identity", {{"key-index", std::to_string(d.key_index())}}, Bytes(reply.begin(), reply.end())}}};
    conn->send_node(server_iq("result", iq.attr_text("id").value_or(""), {sign}));
    return jid;
  }
  std::pair<std::uint64_t, std::uint32_t> user_device(const std::string& jid) const {
    auto j = wa::binary::Jid::parse(jid);
    REQUIRE(j);
    REQUIRE(j->device);
    return {std::stoull(j->user), *j->device};
  }
  // A fresh login connection with this companion's noise key.
  std::unique_ptr<WaTestClient> login(const WasimProcess& w, const std::string& jid) const {
    auto c = std::make_unique<WaTestClient>(w.ws_port(), 3);
    wa::crypto::Key32 server_static{};
    auto [user, device] = user_device(jid);
    c->handshake(noise, login_payload(user, device), server_static);
    return c;
  }
};

std::string add_phone(const WasimProcess& w, const std::string& phone) {
  auto r = http_request(w.admin_port(), "POST", "/admin/phones", "{\"phone\":\"" + phone + "\"}");
  INFO(r.body);
  REQUIRE(r.status == 201);
  auto key = json_field(r.body, "account_public_key");
  REQUIRE(key);
  return *key;
}

// Registration, QR link, pair-success, pair-device-sign, 515: the paired jid.
std::string pair(const WasimProcess& w, Companion& c, const std::string& phone, const std::string& account_hex) {
  c.register_with(w);
  auto r = http_request(w.admin_port(), "POST", "/admin/phones/" + phone + "/link", "{\"qr\":\"" + c.qr() + "\"}");
  INFO(r.body);
  REQUIRE(r.status == 200);
  const std::string jid = c.answer_pair_success(account_hex);
  CHECK(json_field(r.body, "jid") == jid);
  Node err = next_node(*c.conn);
  CHECK(err.tag == "stream:error");
  CHECK(err.attr_text("code") == std::optional<std::string>("515"));
  CHECK_FALSE(c.conn->recv_node(5000ms).has_value());  // closed
  return jid;
}

Node login_success(WaTestClient& c) {
  Node n = next_node(c);
  REQUIRE(n.tag == "success");
  CHECK(n.attr_text("t"));
  CHECK(n.attr_text("lid"));
  // The offline batch follows the login; these devices never get messages, so it is only the marker.
  Node ib = next_node(c);
  CHECK(ib.tag == "ib");
  CHECK(ib.child("offline"));
  return n;
}

std::string conns(const WasimProcess& w, const std::string& jid) {
  auto r = http_request(w.admin_port(), "GET", "/admin/devices/" + jid + "/connections");
  REQUIRE(r.status == 200);
  return r.body;
}

std::size_t count_of(const std::string& s, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("phones - create, list, and 4xx for bad numbers", "[sim][phones]") {
  TempDir dir;
  WasimProcess w(dir.path());
  const int port = w.admin_port();
  auto r = http_request(port, "POST", "/admin/phones", "{\"phone\":\"+15550001\"}");
  CHECK(r.status == 201);
  CHECK(json_field(r.body, "account_public_key").value_or("").size() == 64);
  CHECK(http_request(port, "POST", "/admin/phones", "{\"phone\":\"+15550001\"}").status == 200);
  for (const char* bad : {"{\"phone\":\"abc\"}", "{\"phone\":\"+0123456789\"}", "{\"phone\":\"+12\"}",
                          "{\"phone\":\"+1234567890123456\"}", "{\"phone\":15550001}", "{}", "not json", "[1]"}) {
    INFO(bad);
    auto b = http_request(port, "POST", "/admin/phones", bad);
    CHECK(b.status == 400);
    CHECK(json_field(b.body, "error"));
  }
  auto g = http_request(port, "GET", "/admin/phones/+15550001");
  CHECK(g.status == 200);
  CHECK(g.body.find("\"devices\":[]") != std::string::npos);
  CHECK(http_request(port, "GET", "/admin/phones/+15559999").status == 404);
  CHECK(http_request(port, "POST", "/admin/phones/+15559999/link", "{\"qr\":\"a,b,c,d\"}").status == 404);
  CHECK(http_request(port, "DELETE", "/admin/phones/+15550001").status == 405);
}

TEST_CASE("QR link - pair-success verifies, pair-device-sign, 515, login, pre-keys", "[sim][pairing]") {
  TempDir dir;
  WasimProcess w(dir.path());
  const int port = w.admin_port();
  const std::string account = add_phone(w, "+15550001");
  Companion c;
  c.register_with(w);
  const std::string link = "/admin/phones/+15550001/link";
  // Refusals the phone can judge.
  auto other = KeyPair::generate();
  auto r1 = http_request(port, "POST", link, "{\"qr\":\"" + c.qr(0, &other.pub) + "\"}");
  CHECK(r1.status == 422);
  std::string made_up = c.qr();
  made_up.replace(made_up.find("#2@") + 3, 4, "AAAA");
  CHECK(http_request(port, "POST", link, "{\"qr\":\"" + made_up + "\"}").status == 404);
  CHECK(http_request(port, "POST", link, "{\"qr\":\"2@abc,xyz\"}").status == 400);
  CHECK(http_request(port, "POST", link, "{}").status == 400);

  auto r = http_request(port, "POST", link, "{\"qr\":\"" + c.qr(1) + "\"}");  // any live ref
  INFO(r.body);
  REQUIRE(r.status == 200);
  const std::string jid = c.answer_pair_success(account);
  CHECK(jid.rfind("15550001:", 0) == 0);
  Node err = next_node(*c.conn);
  CHECK(err.tag == "stream:error");
  CHECK(err.attr_text("code") == std::optional<std::string>("515"));
  CHECK_FALSE(c.conn->recv_node().has_value());
  // The ref was used: a second scan finds no waiting connection.
  CHECK(http_request(port, "POST", link, "{\"qr\":\"" + c.qr(1) + "\"}").status == 404);

  auto l = c.login(w, jid);
  login_success(*l);
  l->send_node(Node{"iq", {{"id", std::string("c1")}, {"xmlns", std::string("encrypt")}, {"type", std::string("get")}},
                    NodeList{Node{"count", {}, {}}}});
  Node count = next_node(*l);
  REQUIRE(count.child("count"));
  CHECK(count.child("count")->attr_text("value") == std::optional<std::string>("0"));
  {
    // Before its first upload the device can already be written to: the server knows its identity
    // and signed pre-key from the registration payload, so a fetch answers a bundle without a
    // one-time key (a message sent right after linking must not skip the new device).
    l->send_node(wa::client::bundle_request("b0", {*wa::binary::Jid::parse(jid)}));
    Node fetched = next_node(*l);
    INFO(fetched.tag << " " << fetched.attr_text("type").value_or(""));
    REQUIRE(fetched.attr_text("type") == std::optional<std::string>("result"));
    const Node* list = fetched.child("list");
    REQUIRE(list);
    const Node* user = list->child("user");
    REQUIRE(user);
    REQUIRE(user->child("identity"));
    CHECK(*user->child("identity")->bytes() == Bytes(c.identity.pub.begin(), c.identity.pub.end()));
    REQUIRE(user->child("skey"));
    CHECK(*user->child("skey")->child("id")->bytes() == Bytes{0, 0, 1});
    CHECK(user->child("key") == nullptr);
  }
  // The upload as the client sends it (wasim keeps the keys since issue 8, so they must be whole).
  wa::client::DeviceKeys dk;
  dk.identity_key = c.identity;
  dk.registration_id = 42;
  dk.signed_pre_key.pair = KeyPair::generate();
  dk.signed_pre_key.signature = Bytes(64, 1);
  std::vector<wa::client::PreKey> keys;
  for (std::uint32_t i = 1; i <= 3; ++i) keys.push_back({i, KeyPair::generate(), false});
  l->send_node(wa::client::pre_key_upload("u1", dk, keys));
  Node up = next_node(*l);
  CHECK(up.attr_text("type") == std::optional<std::string>("result"));
  CHECK(up.attr_text("id") == std::optional<std::string>("u1"));
  l->send_node(Node{"iq", {{"id", std::string("c2")}, {"xmlns", std::string("encrypt")}, {"type", std::string("get")}},
                    NodeList{Node{"count", {}, {}}}});
  CHECK(next_node(*l).child("count")->attr_text("value") == std::optional<std::string>("3"));
  l->send_node(Node{"iq", {{"id", std::string("p1")}, {"xmlns", std::string("passive")}, {"type", std::string("set")}},
                    NodeList{Node{"active", {}, {}}}});
  CHECK(next_node(*l).attr_text("type") == std::optional<std::string>("result"));

  auto phone = http_request(port, "GET", "/admin/phones/+15550001");
  CHECK(phone.body.find(jid) != std::string::npos);
  CHECK(phone.body.find("\"online\":true") != std::string::npos);
  const auto list = conns(w, jid);
  INFO(list);
  CHECK(count_of(list, "\"logged_in_ms\":null") == 1);  // the pairing connection
  CHECK(count_of(list, "\"logged_in_ms\":1") == 1);     // the login (ms since 2001...)
  CHECK(count_of(list, "\"closed_ms\":null") == 1);
}

TEST_CASE("the admin replace action: the live login gets conflict replaced, as from a login elsewhere",
          "[sim][pairing]") {
  TempDir dir;
  WasimProcess w(dir.path());
  const std::string account = add_phone(w, "+15550003");
  Companion c;
  const std::string jid = pair(w, c, "+15550003", account);
  const std::string path = "/admin/devices/" + jid + "/replace";
  CHECK(http_request(w.admin_port(), "POST", path, "{}").status == 409);  // offline: nothing to replace
  auto live = c.login(w, jid);
  login_success(*live);
  auto r = http_request(w.admin_port(), "POST", path, "{}");
  INFO(r.body);
  CHECK(r.status == 200);
  Node err = next_node(*live);
  CHECK(err.tag == "stream:error");
  CHECK_FALSE(err.attr_text("code").has_value());
  REQUIRE(err.child("conflict"));
  CHECK(err.child("conflict")->attr_text("type") == std::optional<std::string>("replaced"));
  CHECK_FALSE(live->recv_node().has_value());
  CHECK(http_request(w.admin_port(), "POST", "/admin/devices/15550003:99@s.whatsapp.net/replace", "{}").status == 409);
  // The device itself stays linked: it logs in again.
  auto again = c.login(w, jid);
  login_success(*again);
}

TEST_CASE("a second login with the same noise key replaces the first", "[sim][pairing]") {
  TempDir dir;
  WasimProcess w(dir.path());
  const std::string account = add_phone(w, "+15550002");
  Companion c;
  const std::string jid = pair(w, c, "+15550002", account);
  auto first = c.login(w, jid);
  login_success(*first);
  auto second = c.login(w, jid);
  Node err = next_node(*first);
  CHECK(err.tag == "stream:error");
  const Node* conflict = err.child("conflict");
  REQUIRE(conflict);
  CHECK(conflict->attr_text("type") == std::optional<std::string>("replaced"));
  CHECK_FALSE(first->recv_node().has_value());
  login_success(*second);
  // The second stays live: a keepalive is answered.
  second->send_node(Node{"iq", {{"id", std::string("k1")}, {"xmlns", std::string("w:p")}, {"type", std::string("get")}}, {}});
  CHECK(next_node(*second).attr_text("id") == std::optional<std::string>("k1"));
  const auto list = conns(w, jid);
  INFO(list);
  CHECK(count_of(list, "\"logged_in_ms\":1") == 2);
  CHECK(list.find("replaced") != std::string::npos);
  CHECK(count_of(list, "\"closed_ms\":null") == 1);
  // Counted: the bench tells an overlap (two live logins) from a clean handover by it.
  CHECK(http_request(w.admin_port(), "GET", "/admin/health").body.find("\"logins_replaced\":1") !=
        std::string::npos);
  // A login with another noise key is not this device: 401.
  Companion stranger;
  auto bad = std::make_unique<WaTestClient>(w.ws_port(), 3);
  wa::crypto::Key32 ss{};
  auto [user, device] = c.user_device(jid);
  bad->handshake(stranger.noise, login_payload(user, device), ss);
  Node f = next_node(*bad);
  CHECK(f.tag == "failure");
  CHECK(f.attr_text("reason") == std::optional<std::string>("401"));
}

TEST_CASE("logout removes the device - stream-error drills - device survives a restart", "[sim][pairing]") {
  TempDir dir;
  std::string jid;
  Companion c;
  {
    WasimProcess w(dir.path());
    const std::string account = add_phone(w, "+15550003");
    jid = pair(w, c, "+15550003", account);
    REQUIRE(w.terminate() == 0);
  }
  WasimProcess w(dir.path());
  const int port = w.admin_port();
  auto l = c.login(w, jid);
  login_success(*l);  // remembered across the restart
  const std::string base = "/admin/devices/" + jid;
  CHECK(http_request(port, "POST", base + "/stream-error", "{\"code\":\"x\"}").status == 400);
  CHECK(http_request(port, "POST", base + "/stream-error", "{\"code\":5150}").status == 400);
  REQUIRE(http_request(port, "POST", base + "/stream-error", "{\"code\":503}").status == 200);
  Node e = next_node(*l);
  CHECK(e.tag == "stream:error");
  CHECK(e.attr_text("code") == std::optional<std::string>("503"));
  CHECK_FALSE(l->recv_node().has_value());
  CHECK(http_request(port, "POST", base + "/stream-error", "{\"code\":515}").status == 409);  // offline now

  l = c.login(w, jid);
  login_success(*l);
  auto out = http_request(port, "POST", base + "/logout", "");
  INFO(out.body);
  REQUIRE(out.status == 200);
  Node removed = next_node(*l);
  CHECK(removed.tag == "stream:error");
  CHECK(removed.attr_text("code") == std::optional<std::string>("401"));
  REQUIRE(removed.child("conflict"));
  CHECK(removed.child("conflict")->attr_text("type") == std::optional<std::string>("device_removed"));
  CHECK_FALSE(l->recv_node().has_value());
  CHECK(http_request(port, "POST", base + "/logout", "").status == 404);
  auto again = c.login(w, jid);
  Node f = next_node(*again);
  CHECK(f.tag == "failure");
  CHECK(f.attr_text("reason") == std::optional<std::string>("401"));
  CHECK(http_request(port, "GET", "/admin/phones/+15550003").body.find(jid) == std::string::npos);
  CHECK(http_request(port, "GET", "/admin/devices/nonsense/connections").status == 400);
}

TEST_CASE("refs expire on the configured schedule - 410 - then the connection is closed", "[sim][pairing]") {
  TempDir dir;
  WasimProcess w(dir.path(), {"--qr-ttl-first", "400", "--qr-ttl", "100"});
  add_phone(w, "+15550004");
  Companion c;
  c.register_with(w);
  const auto t0 = std::chrono::steady_clock::now();
  // Ref 0 lives 400 ms; ref 5 until 400 + 5*100 ms. A QR with another noise key is judged
  // after the ref: 422 while the ref is live, 410 once it expired (and it never pairs).
  auto other = KeyPair::generate();
  int status = 0;
  while (std::chrono::steady_clock::now() - t0 < 3s) {
    status = http_request(w.admin_port(), "POST", "/admin/phones/+15550004/link", "{\"qr\":\"" + c.qr(0, &other.pub) + "\"}").status;
    if (status != 422) break;
  }
  CHECK(status == 410);
  CHECK(std::chrono::steady_clock::now() - t0 >= 350ms);  // t0 is a little after wasim started the clock
  // After the last ref (and one more period) wasim closes the registration connection.
  CHECK_FALSE(c.conn->recv_node(5000ms).has_value());
  CHECK(std::chrono::steady_clock::now() - t0 >= 850ms);
}

TEST_CASE("pair code - the phone's side of companion_hello and companion_finish", "[sim][pairing]") {
  TempDir dir;
  WasimProcess w(dir.path());
  const std::string account = add_phone(w, "+15550005");
  Companion c;
  c.register_with(w);
  const std::string code = wa::client::new_linking_code();
  auto ce = KeyPair::generate();
  const Bytes salt = wa::crypto::random_bytes(32), iv = wa::crypto::random_bytes(16);
  const Bytes wrapped = wa::client::wrap_ephemeral(code, ce.pub, salt, iv);
  const auto phone_jid = wa::binary::Jid{"15550005", "s.whatsapp.net", 0, std::nullopt, 0};
  Node hello{"link_code_companion_reg", {{"jid", phone_jid}, {"stage", std::string("companion_hello")}, {"should_show_push_notification", std::string("true")}},
             NodeList{Node{"link_code_pairing_wrapped_companion_ephemeral_pub", {}, wrapped},
                      Node{"companion_server_auth_key_pub", {}, Bytes(c.noise.pub.begin(), c.noise.pub.end())},
                      Node{"companion_platform_id", {}, std::string("1")},
                      Node{"companion_platform_display", {}, std::string("Chrome (Linux)")},
                      Node{"link_code_pairing_nonce", {}, Bytes{0}}}};
  Node hello_iq = server_iq("set", "h1", {hello});
  hello_iq.attrs.push_back({"xmlns", std::string("md")});
  c.conn->send_node(hello_iq);
  Node res = next_node(*c.conn);
  REQUIRE(res.attr_text("type") == std::optional<std::string>("result"));
  const Node* reg = res.child("link_code_companion_reg");
  REQUIRE(reg);
  REQUIRE(reg->child("link_code_pairing_ref"));
  const std::string ref = text(*reg->child("link_code_pairing_ref"));

  auto typed = std::async(std::launch::async, [&] {
    return http_request(w.admin_port(), "POST", "/admin/phones/+15550005/link-code",
                        "{\"code\":\"" + wa::client::format_linking_code(code) + "\"}");
  });
  Node note = next_node(*c.conn, 10000ms);
  REQUIRE(note.tag == "notification");
  const Node* nreg = note.child("link_code_companion_reg");
  REQUIRE(nreg);
  CHECK(text(*nreg->child("link_code_pairing_ref")) == ref);
  const auto primary_identity = wa::crypto::key32_from(*nreg->child("primary_identity_pub")->bytes());
  CHECK(wa::crypto::to_hex(primary_identity) == account);
  const Bytes adv_rand = wa::crypto::random_bytes(32), bundle_salt = wa::crypto::random_bytes(32),
              nonce = wa::crypto::random_bytes(12);
  auto fin = wa::client::companion_finish(code, ce, *nreg->child("link_code_pairing_wrapped_primary_ephemeral_pub")->bytes(),
                                          primary_identity, c.identity, adv_rand, bundle_salt, nonce);
  c.adv = fin.adv_secret;  // pair-success is keyed by the derived secret now
  Node finish{"link_code_companion_reg", {{"jid", phone_jid}, {"stage", std::string("companion_finish")}},
              NodeList{Node{"link_code_pairing_wrapped_key_bundle", {}, fin.wrapped_key_bundle},
                       Node{"companion_identity_public", {}, Bytes(c.identity.pub.begin(), c.identity.pub.end())},
                       Node{"link_code_pairing_ref", {}, Bytes(ref.begin(), ref.end())}}};
  c.conn->send_node(server_iq("set", "f1", {finish}));
  Node fres = next_node(*c.conn);
  CHECK(fres.attr_text("id") == std::optional<std::string>("f1"));
  CHECK(fres.attr_text("type") == std::optional<std::string>("result"));
  const std::string jid = c.answer_pair_success(account);
  CHECK(jid.rfind("15550005:", 0) == 0);
  auto r = typed.get();
  INFO(r.body);
  CHECK(r.status == 200);
  CHECK(next_node(*c.conn).attr_text("code") == std::optional<std::string>("515"));
  auto l = c.login(w, jid);
  login_success(*l);
}

TEST_CASE("a pair-device-sign with a forged device signature is refused - nothing is linked", "[sim][pairing]") {
  TempDir dir;
  WasimProcess w(dir.path());
  const std::string account = add_phone(w, "+15550006");
  Companion c;
  c.register_with(w);
  auto r = http_request(w.admin_port(), "POST", "/admin/phones/+15550006/link", "{\"qr\":\"" + c.qr() + "\"}");
  REQUIRE(r.status == 200);
  const std::string jid = c.answer_pair_success(account, true);
  Node err = next_node(*c.conn);
  CHECK(err.tag == "stream:error");
  CHECK(err.attr_text("code") != std::optional<std::string>("515"));
  CHECK_FALSE(c.conn->recv_node().has_value());
  CHECK(http_request(w.admin_port(), "GET", "/admin/phones/+15550006").body.find(jid) == std::string::npos);
  auto l = c.login(w, jid);
  Node f = next_node(*l);
  CHECK(f.tag == "failure");
  CHECK(f.attr_text("reason") == std::optional<std::string>("401"));
}
