// Generated nodes (fixed seed) survive encode -> decode unchanged, under both dictionaries.
#include <catch2/catch.hpp>

#include <random>

#include "core/binary/decoder.h"
#include "core/binary/encoder.h"
#include "core/binary/node_json.h"
#include "core/binary/tokens.h"

using namespace wa::binary;

namespace {

class Gen {
 public:
  explicit Gen(std::uint32_t seed, Dict dict) : rng_(seed), tokens_(Tokens::get(dict)) {}

  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

  std::string chars(std::string_view alphabet, std::size_t len) {
    std::string s;
    for (std::size_t i = 0; i < len; ++i) s += alphabet[static_cast<std::size_t>(pick(static_cast<int>(alphabet.size())))];
    return s;
  }

  // Covers every string encoding: "", single/double-byte tokens, nibble, hex, raw (incl. UTF-8,
  // '@', and lengths across the BINARY_8/20 boundary).
  std::string str() {
    switch (pick(9)) {
      case 0: return "";
      case 1: return std::string(*tokens_.single(static_cast<std::uint8_t>(1 + pick(235))));
      case 2: return std::string(*tokens_.double_byte(static_cast<unsigned>(pick(4)), static_cast<std::uint8_t>(pick(256))));
      case 3: return chars("0123456789-.", static_cast<std::size_t>(1 + pick(127)));
      case 4: return chars("0123456789ABCDEF", static_cast<std::size_t>(1 + pick(127)));
      case 5: return chars("0123456789abcdef", static_cast<std::size_t>(1 + pick(200)));
      case 6: return chars("abcxyz @:_\xC3\xA4", static_cast<std::size_t>(1 + pick(300)));
      case 7: return chars("0123456789", 128 + static_cast<std::size_t>(pick(100)));  // too long to pack
      default: return chars("abcdefghijklmnopqrstuvwxyz", static_cast<std::size_t>(1 + pick(20)));
    }
  }

  // JIDs in the shapes the encoder keeps lossless: devices where the wire carries one.
  Jid jid() {
    Jid j;
    j.user = chars("0123456789", static_cast<std::size_t>(5 + pick(12)));
    switch (pick(10)) {
      case 0: j.server = "s.whatsapp.net"; break;
      case 1: j.server = "s.whatsapp.net"; j.device = static_cast<std::uint16_t>(pick(256)); break;
      case 2: j.server = "s.whatsapp.net"; j.device = static_cast<std::uint16_t>(pick(256)); j.agent = static_cast<std::uint8_t>(2 + pick(126)); break;
      case 3: j.server = "lid"; if (pick(2) == 0) j.device = static_cast<std::uint16_t>(pick(256)); break;
      case 4: j.server = pick(2) == 0 ? "hosted" : "hosted.lid"; j.device = static_cast<std::uint16_t>(pick(256)); break;
      case 5: j.server = "g.us"; j.user += "-" + chars("0123456789", 10); break;
      case 6: j.server = pick(2) == 0 ? "broadcast" : "newsletter"; break;
      case 7: j.server = "msgr"; j.device = static_cast<std::uint16_t>(pick(65536)); break;
      case 8: j.server = "interop"; j.device = static_cast<std::uint16_t>(pick(65536)); j.integrator = static_cast<std::uint16_t>(pick(65536)); break;
      default: j.user.clear(); j.server = pick(2) == 0 ? "s.whatsapp.net" : "g.us"; break;
    }
    return j;
  }

  Node node(int depth) {
    Node n;
    do n.tag = str(); while (n.tag.empty());
    const int nattrs = pick(6);
    for (int i = 0; i < nattrs; ++i) {
      Attr a{str(), Value{}};
      if (pick(3) == 0) a.value = jid(); else a.value = str();
      n.attrs.push_back(std::move(a));
    }
    switch (depth < 5 ? pick(6) : pick(4)) {
      case 0: break;
      case 1: {
        const int sizes[] = {0, 1, 255, 256, 1000, 70000};
        Bytes b(static_cast<std::size_t>(sizes[pick(6)]));
        for (auto& x : b) x = static_cast<std::uint8_t>(pick(256));
        n.content = std::move(b);
        break;
      }
      case 2: {
        // Only token and packed strings read back as string content: "" is byte 0 (an empty
        // child list) and raw strings are BINARY_*, which decode as bytes (as in Baileys).
        std::string s;
        do s = str(); while (s.empty() || (!tokens_.find(s) && s.size() > 127) ||
                             (!tokens_.find(s) && s.find_first_not_of("0123456789-.") != std::string::npos &&
                              s.find_first_not_of("0123456789ABCDEF") != std::string::npos));
        n.content = std::move(s);
        break;
      }
      case 3: n.content = jid(); break;
      default: {
        NodeList list;
        const int k = pick(4);
        for (int i = 0; i < k; ++i) list.push_back(node(depth + 1));
        n.content = std::move(list);
      }
    }
    return n;
  }

 private:
  std::mt19937 rng_;
  const Tokens& tokens_;
};

}  // namespace

TEST_CASE("random nodes round-trip through encode and decode", "[binary][roundtrip]") {
  for (Dict dict : {Dict::v3, Dict::v2}) {
    Gen g(20261124, dict);
    for (int i = 0; i < 2000; ++i) {
      const Node n = g.node(1);
      const Bytes wire = encode(n, dict);
      const Node back = decode_frame(wire, dict);
      if (!(back == n)) {
        const std::string a = node_to_json(n), b = node_to_json(back);
        std::size_t at = 0;
        while (at < a.size() && at < b.size() && a[at] == b[at]) ++at;
        const std::size_t from = at > 60 ? at - 60 : 0;
        FAIL("node " << i << " differs after decoding at JSON offset " << at << ": ..." << a.substr(from, 120)
                     << " vs ..." << b.substr(from, 120));
      }
      // Encoding is deterministic: the decoded node gives the same bytes.
      REQUIRE(encode(back, dict) == wire);
    }
  }
}

TEST_CASE("binary lengths use BINARY_8, BINARY_20 and BINARY_32 by size", "[binary][roundtrip]") {
  for (const auto& [size, tag_byte] : {std::pair<std::size_t, int>{255, 252}, {256, 253}, {(1u << 20) - 1, 253}, {1u << 20, 254}}) {
    Node n{"enc", {}, Bytes(size, 0xAB)};
    const Bytes wire = encode(n, Dict::v3);
    // flag, LIST_8, 2, tag token, then the content length tag
    REQUIRE(wire.size() > 5);
    CHECK(wire[4] == tag_byte);
    CHECK(decode_frame(wire, Dict::v3) == n);
  }
}

TEST_CASE("string encodings follow the reference rules", "[binary][roundtrip]") {
  auto attr_bytes = [](const std::string& value) {
    Node n{"iq", {{"id", value}}, {}};
    const Bytes w = encode(n, Dict::v3);
    return to_hex(std::span(w).subspan(5));  // after flag, LIST_8, size, tag, key
  };
  CHECK(attr_bytes("") == "00");
  CHECK(attr_bytes("get") == "29");                 // single-byte token (v3)
  CHECK(attr_bytes("12.34-1") == "ff8412b34a1f");     // nibble, odd length
  CHECK(attr_bytes("ABCDEF0123456789") == "fb08abcdef0123456789");  // hex, uppercase
  CHECK(attr_bytes("abcdef") == "fc06616263646566");  // lowercase hex stays raw
  CHECK(attr_bytes("a@b") == "fc03614062");           // a typed string with '@' stays a string
}

TEST_CASE("JIDs encode as JID_PAIR, AD_JID, FB_JID or INTEROP_JID", "[binary][roundtrip]") {
  auto jid_bytes = [](const std::string& text) {
    Node n{"iq", {{"to", *Jid::parse(text)}}, {}};
    const Bytes w = encode(n, Dict::v3);
    return to_hex(std::span(w).subspan(5));
  };
  CHECK(jid_bytes("@s.whatsapp.net") == "fa0003");
  CHECK(jid_bytes("15551234567@s.whatsapp.net") == "faff8615551234567f03");
  CHECK(jid_bytes("15551234567:12@s.whatsapp.net") == "f7000cff8615551234567f");
  CHECK(jid_bytes("15551234567:0@s.whatsapp.net") == "f70000ff8615551234567f");  // Baileys keeps :0
  CHECK(jid_bytes("123456789012345:3@lid") == "f70103ff88123456789012345f");
  CHECK(jid_bytes("15551234567_5:2@s.whatsapp.net") == "f70502ff8615551234567f");
  CHECK(jid_bytes("1234:2@hosted").substr(0, 6) == "f78002");
  CHECK(jid_bytes("1234:2@msgr").substr(0, 2) == "f6");
  CHECK(jid_bytes("7-1234:2@interop").substr(0, 2) == "f5");
  Node bad{"iq", {{"to", *Jid::parse("123:300@s.whatsapp.net")}}, {}};
  CHECK_THROWS_AS(encode(bad, Dict::v3), EncodeError);
  Node bad_group{"iq", {{"to", *Jid::parse("123-456:3@g.us")}}, {}};
  CHECK_THROWS_AS(encode(bad_group, Dict::v3), EncodeError);
}

TEST_CASE("unknown AD_JID domains stay raw agents on s.whatsapp.net", "[binary][roundtrip]") {
  // iq with to = AD_JID(domain 7, device 2, user "1234")
  const Bytes wire = from_hex("00f8031911f70702ff021234");
  const Node n = decode_frame(wire, Dict::v3);
  const Jid* j = std::get_if<Jid>(n.attr("to"));
  REQUIRE(j != nullptr);
  CHECK(j->agent == 7);
  CHECK(j->to_string() == "1234_7:2@s.whatsapp.net");
  CHECK(encode(n, Dict::v3) == wire);
}
