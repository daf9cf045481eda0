// WaClient against a scripted server: the whole QR and pair-code pairing (the phone played by
// the test), the 515 restart and login, what the client sends after <success>, acks, a server
// that stops answering keepalives, and the stream errors.
#include <catch2/catch.hpp>

#include <algorithm>

#include "core/client/pair_code.h"
#include "core/client/wa_client.h"
#include "core/crypto/aes.h"
#include "core/crypto/base64.h"
#include "core/crypto/random.h"
#include "tests/core_client/fake_phone.h"
#include "tests/core_client/memory_store.h"
#include "tests/core_client/scripted_server.h"
#include "tests/core_client/wasim_fixture.h"

using namespace wa::clienttest;
using namespace std::chrono_literals;
using wa::binary::Jid;
using wa::binary::Node;
using wa::binary::NodeList;
using wa::client::WaClient;
using wa::core::ConnectionState;
using wa::core::DisconnectReason;
using wa::crypto::Bytes;
using Received = ScriptedServer::Received;

namespace {

Jid server() { return Jid{"", "s.whatsapp.net", 0, std::nullopt, 0}; }

Node pair_device(std::initializer_list<std::string> refs) {
  NodeList r;
  for (const auto& ref : refs) r.push_back(Node{"ref", {}, Bytes(ref.begin(), ref.end())});
  return Node{"iq", {{"from", server()}, {"type", std::string("set")}, {"id", std::string("pd1")}, {"xmlns", std::string("md")}},
              NodeList{Node{"pair-device", {}, std::move(r)}}};
}

Node pair_success_iq(const Bytes& device_identity, const std::string& jid, const std::string& lid) {
  return Node{"iq", {{"from", server()}, {"type", std::string("set")}, {"id", std::string("ps1")}, {"t", std::string("1700000000")}},
              NodeList{Node{"pair-success", {},
                            NodeList{Node{"device-identity", {}, device_identity},
                                     Node{"device", {{"jid", *Jid::parse(jid)}, {"lid", *Jid::parse(lid)}}, {}},
                                     Node{"platform", {{"name", std::string("android")}}, {}}}}}};
}

Node result_for(const Node& in, NodeList children = {}) {
  Node n{"iq", {{"from", server()}, {"type", std::string("result")}, {"id", in.attr_text("id").value_or("")}}, {}};
  if (!children.empty()) n.content = std::move(children);
  return n;
}

Node stream_error(const std::string& code, const std::string& conflict = "") {
  Node n{"stream:error", {}, {}};
  if (!code.empty()) n.attrs.push_back({"code", code});
  if (!conflict.empty()) n.content = NodeList{Node{"conflict", {{"type", conflict}}, {}}};
  return n;
}

// The server replies of a logged-in session, as the real service answers them.
void answer_session(ScriptedServer& s, std::uint64_t c, const Node& n, bool answer_pings = true) {
  if (n.tag != "iq") return;
  const auto xmlns = n.attr_text("xmlns").value_or("");
  const auto type = n.attr_text("type").value_or("");
  if (xmlns == "w:p") {
    if (answer_pings) s.send(c, result_for(n));
  } else if (xmlns == "encrypt" && type == "get") {
    s.send(c, result_for(n, {Node{"count", {{"value", std::string("0")}}, {}}}));
  } else if (xmlns == "encrypt" || xmlns == "passive") {
    s.send(c, result_for(n));
  }
}

Node success() { return Node{"success", {{"t", std::string("1700000000")}, {"lid", *Jid::parse("999:7@lid")}}, {}}; }

// A device already paired as 15550001:7, stored in `store`.
void store_paired(MemoryStore& store) {
  auto keys = wa::client::DeviceKeys::generate();
  keys.jid = "15550001:7@s.whatsapp.net";
  store.make()->save_device(keys);
}

wa::client::ClientOptions opts(const ScriptedServer& s) {
  wa::client::ClientOptions o;
  o.url = s.url();
  o.trusted_root = s.root();
  o.iq_timeout = 5s;
  o.backoff_initial = 50ms;
  o.backoff_max = 400ms;
  return o;
}

std::vector<std::string> qr_parts(const std::string& qr) {
  std::vector<std::string> out(1);
  for (char c : qr.substr(qr.find('#') + 1)) {
    if (c == ',') out.emplace_back();
    else out.back() += c;
  }
  return out;
}

std::size_t count_tag(const std::vector<Received>& rs, const std::string& xmlns) {
  return static_cast<std::size_t>(std::count_if(rs.begin(), rs.end(), [&](const Received& r) { return r.node.attr_text("xmlns") == xmlns; }));
}

}  // namespace

TEST_CASE("scripted: QR pairing, pair-device-sign, 515, login and the first requests", "[client][scripted]") {
  FakePhone phone;
  std::atomic<bool> signature_ok{false};
  std::atomic<std::uint64_t> login_user{0};
  std::atomic<std::uint32_t> login_device{0};
  wa::crypto::Key32 identity_pub{};
  std::mutex mu;
  ScriptedServer s(
      [&](ScriptedServer& srv, std::uint64_t c, const wa::proto::ClientPayload& p) {
        if (!p.has_username()) return srv.send(c, pair_device({"2@ref-one", "2@ref-two"}));
        login_user = p.username();
        login_device = p.device();
        srv.send(c, success());
      },
      [&](ScriptedServer& srv, std::uint64_t c, const Node& n) {
        if (const Node* sign = n.child("pair-device-sign")) {
          const Node* di = sign->child("device-identity");
          std::lock_guard lk(mu);
          signature_ok = di && di->bytes() && di->attr_text("key-index") == "7" && phone.device_signature_ok(*di->bytes(), identity_pub);
          srv.send(c, stream_error("515"));
          return srv.close(c);
        }
        answer_session(srv, c, n);
      });
  MemoryStore store;
  EventLog log;
  WaClient client("biz-s1", opts(s), store.make(), log.events());
  client.start();
  REQUIRE(store.wait([](const StoreData& d) { return d.qr.has_value(); }, 10s));
  REQUIRE(log.wait_state(ConnectionState::pairing, 1s));
  // The client acked the pair-device iq.
  REQUIRE(s.wait([](const std::vector<Received>& rs) {
    return std::any_of(rs.begin(), rs.end(), [](const Received& r) { return r.node.attr_text("id") == "pd1" && r.node.attr_text("type") == "result"; });
  }, 5s));

  // The phone scans the QR: everything it needs comes from the QR string.
  auto parts = qr_parts(*store.snapshot().qr);
  REQUIRE(parts.size() == 5);
  CHECK(parts[0] == "2@ref-one");
  auto adv = wa::crypto::key32_from(*wa::crypto::base64_decode(parts[3]));
  {
    std::lock_guard lk(mu);
    identity_pub = wa::crypto::key32_from(*wa::crypto::base64_decode(parts[2]));
  }
  s.send(s.logins().front().first, pair_success_iq(phone.pair_success(adv, identity_pub), "15550001:7@s.whatsapp.net", "999:7@lid"));

  REQUIRE(log.wait_state(ConnectionState::logged_in, 10s));
  REQUIRE(store.wait([](const StoreData& x) { return x.connected == 1; }, 5s));
  CHECK(signature_ok);
  CHECK(login_user == 15550001u);
  CHECK(login_device == 7u);
  auto logins = s.logins();
  REQUIRE(logins.size() == 2);
  CHECK_FALSE(logins[0].second);
  CHECK(logins[1].second);
  auto d = store.snapshot();
  CHECK(d.device->jid == "15550001:7@s.whatsapp.net");
  CHECK(d.device->lid == "999:7@lid");
  CHECK(d.device->platform == "android");
  CHECK(d.paired_jid == d.device->jid);
  CHECK_FALSE(d.qr.has_value());
  CHECK(d.connected == 1);
  CHECK(d.resumed == 0);

  // After <success>: pre-key count, upload of 812 (both counts 0), then passive off, in that order.
  REQUIRE(s.wait([](const std::vector<Received>& rs) { return count_tag(rs, "passive") == 1; }, 10s));
  auto rs = s.received();
  std::vector<std::string> order;
  for (const auto& r : rs) {
    if (r.conn != logins[1].first || r.node.tag != "iq") continue;
    auto x = r.node.attr_text("xmlns").value_or("");
    if (x == "encrypt") order.push_back(r.node.attr_text("type") == "get" ? "count" : "upload");
    if (x == "passive") order.push_back("passive");
  }
  REQUIRE(order.size() >= 3);
  CHECK(order[0] == "count");
  CHECK(order[1] == "upload");
  CHECK(order[2] == "passive");
  auto upload = std::find_if(rs.begin(), rs.end(), [](const Received& r) { return r.node.attr_text("xmlns") == "encrypt" && r.node.attr_text("type") == "set"; });
  REQUIRE(upload != rs.end());
  CHECK(upload->node.child("list")->children().size() == 812);
  CHECK(*upload->node.child("identity")->bytes() == Bytes(d.device->identity_key.pub.begin(), d.device->identity_key.pub.end()));
  REQUIRE(store.wait([](const StoreData& x) {
    return x.pre_keys.size() == 812 && std::all_of(x.pre_keys.begin(), x.pre_keys.end(), [](auto& k) { return k.second.uploaded; });
  }, 5s));
}

TEST_CASE("scripted: a pair-success with the wrong HMAC is refused with 401 hmac-mismatch", "[client][scripted]") {
  FakePhone phone;
  ScriptedServer s([](ScriptedServer& srv, std::uint64_t c, const wa::proto::ClientPayload&) { srv.send(c, pair_device({"2@r"})); },
                   [](ScriptedServer&, std::uint64_t, const Node&) {});
  MemoryStore store;
  EventLog log;
  WaClient client("biz-s2", opts(s), store.make(), log.events());
  client.start();
  REQUIRE(store.wait([](const StoreData& d) { return d.qr.has_value(); }, 10s));
  wa::crypto::Key32 wrong{};
  wa::crypto::random_fill(wrong);
  auto dev = *store.snapshot().device;
  s.send(s.logins().front().first, pair_success_iq(phone.pair_success(wrong, dev.identity_key.pub), "15550001:7@s.whatsapp.net", "999:7@lid"));
  REQUIRE(s.wait([](const std::vector<Received>& rs) {
    return std::any_of(rs.begin(), rs.end(), [](const Received& r) { return r.node.attr_text("id") == "ps1"; });
  }, 5s));
  auto rs = s.received();
  auto reply = std::find_if(rs.begin(), rs.end(), [](const Received& r) { return r.node.attr_text("id") == "ps1"; });
  CHECK(reply->node.attr_text("type") == "error");
  REQUIRE(reply->node.child("error"));
  CHECK(reply->node.child("error")->attr_text("code") == "401");
  CHECK(reply->node.child("error")->attr_text("text") == "hmac-mismatch");
  CHECK(client.state() == ConnectionState::pairing);
  CHECK_FALSE(store.snapshot().device->paired());
}

TEST_CASE("scripted: pair-code pairing with the phone's side of the key exchange", "[client][scripted]") {
  FakePhone phone;
  auto primary_eph = wa::crypto::KeyPair::generate();
  auto primary_identity = wa::crypto::KeyPair::generate();
  std::mutex mu;
  std::string code;              // set by the test once request_pair_code returned
  wa::crypto::Key32 companion_eph{};
  Bytes hello_wrapped;  // the companion's wrapped ephemeral from companion_hello
  wa::crypto::Key32 adv_secret{};  // what the phone derives at companion_finish
  std::atomic<bool> finish_ok{false};
  const Bytes ref{'R', 'E', 'F', '1'};
  ScriptedServer s(
      [&](ScriptedServer& srv, std::uint64_t c, const wa::proto::ClientPayload& p) {
        if (!p.has_username()) return srv.send(c, pair_device({"2@r"}));
        srv.send(c, success());
      },
      [&](ScriptedServer& srv, std::uint64_t c, const Node& n) {
        const Node* reg = n.child("link_code_companion_reg");
        if (reg && reg->attr_text("stage") == "companion_hello") {
          CHECK(reg->attr_text("jid") == "15550002@s.whatsapp.net");
          {
            std::lock_guard lk(mu);
            // Kept wrapped until the code is known (the user types it on the phone).
            auto w = reg->child("link_code_pairing_wrapped_companion_ephemeral_pub");
            CHECK((w && w->bytes() && w->bytes()->size() == 80));
            if (w && w->bytes()) srv.send(c, result_for(n, {Node{"link_code_companion_reg", {}, NodeList{Node{"link_code_pairing_ref", {}, ref}}}}));
            hello_wrapped = w && w->bytes() ? *w->bytes() : Bytes{};
          }
          return;
        }
        if (reg && reg->attr_text("stage") == "companion_finish") {
          std::lock_guard lk(mu);
          const Bytes bundle = *reg->child("link_code_pairing_wrapped_key_bundle")->bytes();
          const Bytes cid = *reg->child("companion_identity_public")->bytes();
          auto eph_shared = wa::crypto::x25519(primary_eph.priv, companion_eph);
          wa::crypto::ByteView b(bundle);
          auto key = wa::crypto::hkdf_sha256(eph_shared, b.subspan(0, 32), wa::crypto::view("link_code_pairing_key_bundle_encryption_key"), 32);
          auto pt = wa::crypto::aes256_gcm_open(key, b.subspan(32, 12), {}, b.subspan(44));
          auto identity_shared = wa::crypto::x25519(primary_identity.priv, wa::crypto::key32_from(cid));
          Bytes ikm(eph_shared.begin(), eph_shared.end());
          ikm.insert(ikm.end(), identity_shared.begin(), identity_shared.end());
          ikm.insert(ikm.end(), pt.begin() + 64, pt.end());
          adv_secret = wa::crypto::key32_from(wa::crypto::hkdf_sha256(ikm, {}, wa::crypto::view("adv_secret"), 32));
          finish_ok = Bytes(pt.begin(), pt.begin() + 32) == cid && *reg->child("link_code_pairing_ref")->bytes() == ref;
          srv.send(c, result_for(n));
          srv.send(c, pair_success_iq(phone.pair_success(adv_secret, wa::crypto::key32_from(cid)), "15550002:3@s.whatsapp.net", "888:3@lid"));
          return;
        }
        if (n.child("pair-device-sign")) {
          srv.send(c, stream_error("515"));
          return srv.close(c);
        }
        answer_session(srv, c, n);
      });
  MemoryStore store;
  EventLog log;
  WaClient client("biz-s3", opts(s), store.make(), log.events());
  client.start();
  REQUIRE(log.wait_state(ConnectionState::pairing, 10s));
  const auto adv_before = store.snapshot().device->adv_secret;
  const std::string got = client.request_pair_code("+1 555 0002");
  REQUIRE(got.size() == 8);
  {
    // The user types the code on the phone: it unwraps the companion key and answers.
    std::lock_guard lk(mu);
    code = got;
    companion_eph = wa::client::unwrap_ephemeral(code, hello_wrapped);
  }
  auto wrapped_primary = wa::client::wrap_ephemeral(code, primary_eph.pub, wa::crypto::random_bytes(32), wa::crypto::random_bytes(16));
  Node notif{"notification", {{"from", server()}, {"id", std::string("n1")}, {"type", std::string("link_code_companion_reg")}},
             NodeList{Node{"link_code_companion_reg", {},
                           NodeList{Node{"link_code_pairing_ref", {}, ref},
                                    Node{"primary_identity_pub", {}, Bytes(primary_identity.pub.begin(), primary_identity.pub.end())},
                                    Node{"link_code_pairing_wrapped_primary_ephemeral_pub", {}, wrapped_primary}}}}};
  s.send(s.logins().front().first, notif);
  REQUIRE(log.wait_state(ConnectionState::logged_in, 15s));
  CHECK(finish_ok);
  auto d = store.snapshot();
  CHECK(d.device->jid == "15550002:3@s.whatsapp.net");
  CHECK(d.device->adv_secret != adv_before);  // replaced by the pair-code derivation
  {
    std::lock_guard lk(mu);
    CHECK(d.device->adv_secret == adv_secret);
  }
  // The notification was acked as whatsmeow acks.
  auto rs = s.received();
  CHECK(std::any_of(rs.begin(), rs.end(), [](const Received& r) {
    return r.node.tag == "ack" && r.node.attr_text("id") == "n1" && r.node.attr_text("class") == "notification" &&
           r.node.attr_text("type") == "link_code_companion_reg";
  }));
}

TEST_CASE("scripted: a server that stops answering keepalives is left and the session resumed", "[client][scripted]") {
  std::atomic<int> logins{0};
  ScriptedServer s(
      [&](ScriptedServer& srv, std::uint64_t c, const wa::proto::ClientPayload&) {
        ++logins;
        srv.send(c, success());
      },
      // The first connection never answers pings (socket open, server silent); later ones do.
      [&](ScriptedServer& srv, std::uint64_t c, const Node& n) { answer_session(srv, c, n, logins.load() > 1); });
  MemoryStore store;
  store_paired(store);
  EventLog log;
  auto o = opts(s);
  o.keepalive_min = 50ms;
  o.keepalive_max = 80ms;
  o.keepalive_response_timeout = 150ms;
  o.keepalive_max_fail = 400ms;
  WaClient client("biz-s4", o, store.make(), log.events());
  client.start();
  REQUIRE(log.wait_disconnect(DisconnectReason::timeout, 10s));
  REQUIRE(store.wait([](const StoreData& d) { return d.connected >= 2; }, 10s));
  auto d = store.snapshot();
  CHECK(d.resumed == d.connected);  // every login was from the stored keys
  CHECK(logins.load() >= 2);
  REQUIRE_FALSE(d.disconnects.empty());
  CHECK(d.disconnects.front().first == DisconnectReason::timeout);
  CHECK(d.disconnects.front().second.find("keepalive") != std::string::npos);
  // Pings go out without a child, to the server, as whatsmeow's.
  auto rs = s.received();
  auto ping = std::find_if(rs.begin(), rs.end(), [](const Received& r) { return r.node.attr_text("xmlns") == "w:p"; });
  REQUIRE(ping != rs.end());
  CHECK(ping->node.attr_text("type") == "get");
  CHECK(ping->node.children().empty());
}

TEST_CASE("scripted: stream errors and failures get their reactions", "[client][scripted]") {
  std::mutex mu;
  std::vector<std::uint64_t> conns;
  ScriptedServer s(
      [&](ScriptedServer& srv, std::uint64_t c, const wa::proto::ClientPayload&) {
        {
          std::lock_guard lk(mu);
          conns.push_back(c);
        }
        srv.send(c, success());
      },
      [&](ScriptedServer& srv, std::uint64_t c, const Node& n) { answer_session(srv, c, n); });
  auto last_conn = [&] {
    std::lock_guard lk(mu);
    return conns.back();
  };
  auto conn_count = [&] {
    std::lock_guard lk(mu);
    return conns.size();
  };
  MemoryStore store;
  store_paired(store);
  EventLog log;
  WaClient client("biz-s5", opts(s), store.make(), log.events());
  client.start();
  REQUIRE(store.wait([](const StoreData& d) { return d.connected == 1; }, 10s));

  SECTION("515 reconnects at once, 503 after a backoff; both resume the session") {
    s.send(last_conn(), stream_error("515"));
    REQUIRE(store.wait([](const StoreData& d) { return d.connected == 2; }, 10s));
    s.send(last_conn(), stream_error("503"));
    REQUIRE(store.wait([](const StoreData& d) { return d.connected == 3; }, 10s));
    CHECK(log.count_state(ConnectionState::logged_in) == 3);
    auto d = store.snapshot();
    CHECK(d.resumed == 3);
    REQUIRE(d.disconnects.size() == 1);  // 515 is an expected restart; 503 is recorded
    CHECK(d.disconnects[0].second.find("503") != std::string::npos);
    CHECK(client.state() == ConnectionState::logged_in);
  }
  SECTION("replaced: failed, reason replaced, no reconnect") {
    s.send(last_conn(), stream_error("", "replaced"));
    REQUIRE(log.wait_disconnect(DisconnectReason::replaced, 10s));
    CHECK(client.state() == ConnectionState::failed);
    CHECK_FALSE(store.wait([](const StoreData& d) { return d.connected > 1; }, 600ms));
    CHECK(conn_count() == 1);
  }
  SECTION("device_removed: logged_out, no reconnect") {
    s.send(last_conn(), stream_error("401", "device_removed"));
    REQUIRE(log.wait_disconnect(DisconnectReason::logged_out, 10s));
    CHECK(client.state() == ConnectionState::failed);
    CHECK(store.snapshot().disconnects.back().first == DisconnectReason::logged_out);
    CHECK_FALSE(store.wait([](const StoreData& d) { return d.connected > 1; }, 600ms));
  }
  SECTION("403: failed with details") {
    s.send(last_conn(), stream_error("403"));
    REQUIRE(log.wait_disconnect(DisconnectReason::error, 10s));
    CHECK(client.state() == ConnectionState::failed);
    CHECK(log.disconnects().back().second.find("403") != std::string::npos);
  }
  SECTION("a dropped socket reconnects with backoff") {
    s.close(last_conn());
    REQUIRE(store.wait([](const StoreData& d) { return d.connected == 2; }, 10s));
    CHECK(log.wait_disconnect(DisconnectReason::error, 1s));
  }
  SECTION("incoming stanzas are acked") {
    s.send(last_conn(), Node{"message", {{"from", *Jid::parse("15559999@s.whatsapp.net")}, {"id", std::string("m1")}, {"type", std::string("text")}}, {}});
    s.send(last_conn(), Node{"receipt", {{"from", *Jid::parse("15559999@s.whatsapp.net")}, {"id", std::string("r1")}, {"type", std::string("read")}}, {}});
    REQUIRE(s.wait([](const std::vector<Received>& rs) {
      return std::count_if(rs.begin(), rs.end(), [](const Received& r) { return r.node.tag == "ack"; }) == 2;
    }, 5s));
    auto rs = s.received();
    for (const auto& r : rs) {
      if (r.node.tag != "ack") continue;
      CHECK(r.node.attr_text("to") == "15559999@s.whatsapp.net");
      if (r.node.attr_text("id") == "m1") {
        CHECK(r.node.attr_text("class") == "message");
        CHECK_FALSE(r.node.attr("type"));
      } else {
        CHECK(r.node.attr_text("class") == "receipt");
        CHECK(r.node.attr_text("type") == "read");
      }
    }
  }
}

TEST_CASE("scripted: stop() during the handshake: the ClientFinish (the login) is never sent", "[client][scripted]") {
  ScriptedServer s([](ScriptedServer& srv, std::uint64_t c, const wa::proto::ClientPayload&) { srv.send(c, success()); },
                   [](ScriptedServer&, std::uint64_t, const Node&) {});
  s.hold_server_hello(true);
  MemoryStore store;
  store_paired(store);
  EventLog log;
  WaClient client("biz-s6", opts(s), store.make(), log.events());
  client.start();
  REQUIRE(eventually([&] { return s.client_hellos() == 1; }, 10s));
  client.stop(DisconnectReason::lock_lost);  // fenced while the handshake is half done
  s.release_server_hellos();
  // The client closes the socket and never completes the login.
  CHECK(eventually([&] { return s.open_count() == 0; }, 5s));
  CHECK(s.logins().empty());
  CHECK(store.snapshot().connected == 0);
  CHECK(log.disconnects().empty());
}

namespace {

// A lease the test flips to stale, as the HA layer's does when the pod loses its lock or was
// paused past its deadline.
class FlipLease : public wa::core::Lease {
 public:
  bool fresh() const override { return fresh_.load(); }
  void expire() { fresh_ = false; }

 private:
  std::atomic<bool> fresh_{true};
};

}  // namespace

TEST_CASE("scripted: a stale lease stops every frame and ends the connection as lock_lost", "[client][scripted][lease]") {
  std::atomic<int> logins{0};
  ScriptedServer s(
      [&](ScriptedServer& srv, std::uint64_t c, const wa::proto::ClientPayload&) {
        ++logins;
        srv.send(c, success());
      },
      [&](ScriptedServer& srv, std::uint64_t c, const Node& n) { answer_session(srv, c, n); });
  MemoryStore store;
  store_paired(store);
  EventLog log;
  auto lease = std::make_shared<FlipLease>();
  auto o = opts(s);
  SECTION("a frame the client wants to send (an ack) after the lease went stale") {
    WaClient client("biz-l1", o, store.make(), log.events(), lease);
    client.start();
    REQUIRE(s.wait([](const std::vector<Received>& rs) { return count_tag(rs, "passive") == 1; }, 10s));
    std::this_thread::sleep_for(300ms);  // let the answers to the first requests settle
    const auto before = s.bytes_received();
    REQUIRE(before > 0);
    lease->expire();
    s.send(1, Node{"message", {{"from", *Jid::parse("15559999@s.whatsapp.net")}, {"id", std::string("m1")}, {"type", std::string("text")}}, {}});
    REQUIRE(log.wait_disconnect(DisconnectReason::lock_lost, 5s));
    CHECK(client.state() == ConnectionState::failed);
    CHECK(eventually([&] { return s.open_count() == 0; }, 5s));
    std::this_thread::sleep_for(300ms);
    CHECK(s.bytes_received() == before);  // not even the ack went out
    CHECK(logins.load() == 1);            // and no reconnect
    auto rs = s.received();
    CHECK(std::none_of(rs.begin(), rs.end(), [](const Received& r) { return r.node.tag == "ack"; }));
  }
  SECTION("a keepalive ping due after the lease went stale (a paused pod waking up)") {
    o.keepalive_min = 300ms;
    o.keepalive_max = 300ms;
    WaClient client("biz-l2", o, store.make(), log.events(), lease);
    client.start();
    REQUIRE(s.wait([](const std::vector<Received>& rs) { return count_tag(rs, "w:p") >= 1; }, 10s));
    // Expire right after a ping was answered, so the next one is the first frame due.
    const auto pings = count_tag(s.received(), "w:p");
    REQUIRE(s.wait([&](const std::vector<Received>& rs) { return count_tag(rs, "w:p") > pings; }, 5s));
    std::this_thread::sleep_for(50ms);
    const auto before = s.bytes_received();
    lease->expire();
    REQUIRE(log.wait_disconnect(DisconnectReason::lock_lost, 5s));
    CHECK(eventually([&] { return s.open_count() == 0; }, 5s));
    std::this_thread::sleep_for(400ms);  // more than one keepalive interval
    CHECK(s.bytes_received() == before);
    CHECK(logins.load() == 1);
  }
  SECTION("stale before connecting: no connection is opened") {
    lease->expire();
    WaClient client("biz-l3", o, store.make(), log.events(), lease);
    client.start();
    REQUIRE(log.wait_disconnect(DisconnectReason::lock_lost, 5s));
    CHECK(s.bytes_received() == 0);
    CHECK(s.client_hellos() == 0);
  }
}
