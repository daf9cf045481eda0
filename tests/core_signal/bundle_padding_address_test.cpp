// Pure pieces: Signal addresses from JIDs, padding, and pre-key bundle stanzas.
#include <catch2/catch.hpp>

#include <set>

#include "core/signal/padding.h"
#include "core/signal/prekey_bundle.h"
#include "core/signal/session_cipher.h"
#include "tests/core_signal/party.h"

using namespace wa;
using namespace wa::signal;
using binary::Node;

namespace {
Address addr_of(std::string_view jid) {
  auto j = binary::Jid::parse(jid);
  REQUIRE(j);
  return Address::from_jid(*j);
}
Node bytes_node(std::string tag, Bytes b) {
  return Node{std::move(tag), {}, std::move(b)};
}
Bytes be(std::uint32_t v, int width) {
  Bytes out;
  for (int i = width - 1; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  return out;
}
Bytes key_bytes(const Key32& k) {
  return Bytes(k.begin(), k.end());
}
// A <user> element as the server sends it for `p` (e2e reference §2.4).
Node user_node(const test::Party& p, std::string jid, std::uint32_t pre_key_id, bool wrap_in_keys = false) {
  binary::NodeList keys;
  keys.push_back(bytes_node("identity", key_bytes(p.store.local.identity.pub)));
  keys.push_back(Node{"skey",
                      {},
                      binary::NodeList{bytes_node("id", be(p.store.signed_pre_key.id, 3)),
                                       bytes_node("value", key_bytes(p.store.signed_pre_key.pair.pub)),
                                       bytes_node("signature", p.store.signed_pre_key.signature)}});
  if (pre_key_id)
    keys.push_back(
        Node{"key",
             {},
             binary::NodeList{bytes_node("id", be(pre_key_id, 3)),
                              bytes_node("value", key_bytes(p.store.pre_keys.at(pre_key_id).pub))}});
  binary::NodeList children{bytes_node("registration", be(p.store.local.registration_id, 4))};
  if (wrap_in_keys) {
    children.push_back(Node{"keys", {}, std::move(keys)});
  } else {
    for (auto& k : keys) children.push_back(std::move(k));
  }
  return Node{"user", {binary::Attr{"jid", std::move(jid)}}, std::move(children)};
}
}  // namespace

TEST_CASE("signal addresses follow whatsmeow's naming", "[signal]") {
  CHECK(addr_of("15551234567:3@s.whatsapp.net").to_string() == "15551234567:3");
  CHECK(addr_of("15551234567@s.whatsapp.net").to_string() == "15551234567:0");
  CHECK(addr_of("123456789012345:2@lid").to_string() == "123456789012345_1:2");
  CHECK(addr_of("123456789012345@lid").to_string() == "123456789012345_1:0");
  CHECK(addr_of("1555:4@hosted").to_string() == "1555_128:4");
  CHECK(addr_of("1555:4@hosted.lid").to_string() == "1555_129:4");
  CHECK_THROWS_AS(Address::from_jid(*binary::Jid::parse("@s.whatsapp.net")), std::invalid_argument);
}

TEST_CASE("padding", "[signal][padding]") {
  Bytes msg{0x0a, 0x02, 'h', 'i'};
  SECTION("every length round-trips and pad bytes equal the length") {
    for (std::uint8_t n = 1; n <= 16; ++n) {
      auto p = pad(msg, n);
      REQUIRE(p.size() == msg.size() + n);
      CHECK(p.back() == n);
      CHECK(unpad(p) == msg);
    }
  }
  SECTION("random pads are 1..15 (whatsmeow / Baileys 6)") {
    CHECK(pad_length_from_random(0x00) == 15);
    CHECK(pad_length_from_random(0x10) == 15);
    CHECK(pad_length_from_random(0x01) == 1);
    CHECK(pad_length_from_random(0xff) == 15);
    CHECK(pad_length_from_random(0x37) == 7);
    std::set<std::size_t> seen;
    for (int i = 0; i < 2000; ++i) {
      auto p = pad(msg);
      auto n = p.size() - msg.size();
      REQUIRE(n >= 1);
      REQUIRE(n <= 15);
      seen.insert(n);
      REQUIRE(unpad(p) == msg);
    }
    CHECK(seen.size() == 15);  // 2000 draws miss one of 15 values with probability < 1e-50
  }
  SECTION("an empty message padded is valid") {
    CHECK(unpad(pad(Bytes{}, 5)).empty());
  }
  SECTION("invalid pads are rejected") {
    CHECK_THROWS_AS(unpad(Bytes{}), PaddingError);
    CHECK_THROWS_AS(unpad(Bytes{0x0a, 0x00}), PaddingError);                    // n = 0
    CHECK_THROWS_AS(unpad(Bytes(20, 17)), PaddingError);                        // n > 16
    CHECK_THROWS_AS(unpad(Bytes{0x03, 0x03}), PaddingError);                    // n > length
    CHECK_THROWS_AS(unpad(Bytes{0x0a, 0x02, 0x01, 0x03, 0x03}), PaddingError);  // bytes differ
    CHECK_THROWS_AS(pad(msg, 0), std::invalid_argument);
    CHECK_THROWS_AS(pad(msg, 17), std::invalid_argument);
  }
  SECTION("the vector's Baileys padding") {
    auto p = crypto::from_hex("0a0568656c6c6f0e0e0e0e0e0e0e0e0e0e0e0e0e0e");
    CHECK(crypto::to_hex(unpad(p)) == "0a0568656c6c6f");
  }
}

TEST_CASE("pre-key bundle stanzas", "[signal][bundle]") {
  test::Party bob(Address{"15550002222", 7});
  SECTION("a full bundle parses and builds a working session") {
    auto b = parse_bundle(user_node(bob, "15550002222:7@s.whatsapp.net", 3));
    CHECK(b.registration_id == bob.store.local.registration_id);
    CHECK(b.identity == bob.store.local.identity.pub);
    CHECK(b.signed_pre_key_id == 1);
    REQUIRE(b.pre_key);
    CHECK(b.pre_key->id == 3);
    test::Party alice(Address{"15550001111", 0});
    process_bundle(alice.proto, bob.addr, b);
    auto c = encrypt(alice.proto, bob.addr, pad(crypto::to_bytes("via stanza")));
    CHECK(c.type == CiphertextType::pkmsg);
    CHECK(crypto::to_string(unpad(decrypt(bob.proto, alice.addr, c.type, c.data))) == "via stanza");
    CHECK(bob.store.removed_pre_keys == std::vector<std::uint32_t>{3});
  }
  SECTION("keys inside <keys>, no one-time key") {
    auto b = parse_bundle(user_node(bob, "15550002222:7@s.whatsapp.net", 0, true));
    CHECK_FALSE(b.pre_key);
    CHECK(b.identity == bob.store.local.identity.pub);
  }
  SECTION("wrong widths and missing parts are errors") {
    auto n = user_node(bob, "x@s.whatsapp.net", 1);
    std::get<binary::NodeList>(n.content)[1] = bytes_node("identity", Bytes(33, 5));
    CHECK_THROWS_WITH(parse_bundle(n), Catch::Contains("<identity> has 33 bytes"));
    auto m = user_node(bob, "x@s.whatsapp.net", 1);
    std::get<binary::NodeList>(m.content).erase(std::get<binary::NodeList>(m.content).begin());
    CHECK_THROWS_WITH(parse_bundle(m), Catch::Contains("missing <registration>"));
    auto k = user_node(bob, "x@s.whatsapp.net", 1);
    std::get<binary::NodeList>(k.content)[2] = Node{"skey", {}, binary::NodeList{}};
    CHECK_THROWS_WITH(parse_bundle(k), Catch::Contains("<skey>: missing <id>"));
  }
  SECTION("a response with a per-device error keeps the other devices") {
    Node err_user{"user",
                  {binary::Attr{"jid", std::string("15550002222:9@s.whatsapp.net")}},
                  binary::NodeList{Node{"error",
                                        {binary::Attr{"code", std::string("404")},
                                         binary::Attr{"text", std::string("item-not-found")}},
                                        {}}}};
    Node iq{"iq",
            {binary::Attr{"type", std::string("result")}},
            binary::NodeList{Node{
                "list",
                {},
                binary::NodeList{user_node(bob, "15550002222:7@s.whatsapp.net", 2), std::move(err_user)}}}};
    auto r = parse_bundle_response(iq);
    REQUIRE(r.size() == 2);
    CHECK(r[0].jid.device == 7);
    CHECK(r[0].bundle);
    CHECK_FALSE(r[1].bundle);
    CHECK(r[1].error.find("404") != std::string::npos);
    Node bad{"iq", {binary::Attr{"type", std::string("error")}}, {}};
    CHECK_THROWS_AS(parse_bundle_response(bad), BundleError);
  }
  SECTION("an answer listing more devices than we ask for at most is refused") {
    binary::NodeList users(kMaxBundles + 1, user_node(bob, "15550002222:7@s.whatsapp.net", 2));
    Node many{"iq", {binary::Attr{"type", std::string("result")}}, binary::NodeList{Node{"list", {}, users}}};
    CHECK_THROWS_WITH(parse_bundle_response(many), Catch::Contains("too many"));
    users.pop_back();
    Node most{"iq", {binary::Attr{"type", std::string("result")}}, binary::NodeList{Node{"list", {}, users}}};
    CHECK(parse_bundle_response(most).size() == kMaxBundles);
  }
}
