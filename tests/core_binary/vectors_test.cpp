// Every vector made by Baileys decodes to its node and encodes back to the same bytes, under
// both dictionaries.
#include <catch2/catch.hpp>

#include "core/binary/decoder.h"
#include "core/binary/encoder.h"
#include "core/binary/frame.h"
#include "core/binary/node_json.h"
#include "tests/core_binary/test_util.h"

using namespace wa::binary;

TEST_CASE("binary vectors decode and re-encode byte for byte", "[binary][vectors]") {
  const Json& vs = test::vectors();
  REQUIRE(vs.items.size() == 5);
  for (const auto& v : vs.items) {
    const std::string name = v.find("name")->text;
    const Node expected = node_from_json(*v.find("node"));
    for (const auto& [dict, key] : {std::pair{Dict::v3, "hex_dict_v3"}, std::pair{Dict::v2, "hex_dict_v2"}}) {
      INFO(name << " " << key);
      const Bytes wire = from_hex(v.find(key)->text);
      const Node decoded = decode_frame(wire, dict);
      CHECK(decoded == expected);
      CHECK(to_hex(encode(expected, dict)) == v.find(key)->text);
      // The printed JSON reads back to the same node.
      CHECK(node_from_json_text(node_to_json(decoded)) == expected);
    }
  }
}

TEST_CASE("the dictionaries differ: v3 bytes do not decode to the same node under v2", "[binary][vectors]") {
  const Json& vs = test::vectors();
  const auto& v = vs.items.at(0);
  const Node expected = node_from_json(*v.find("node"));
  const Bytes wire = from_hex(v.find("hex_dict_v3")->text);
  bool same = false;
  try {
    same = decode_frame(wire, Dict::v2) == expected;
  } catch (const DecodeError&) {
  }
  CHECK_FALSE(same);
}

TEST_CASE("vector JIDs are typed JIDs with their device and server", "[binary][vectors]") {
  const auto& v = test::vectors().items.at(2);  // receipt_device_jid
  REQUIRE(v.find("name")->text == "receipt_device_jid");
  const Node n = decode_frame(from_hex(v.find("hex_dict_v3")->text), Dict::v3);
  const Jid* to = std::get_if<Jid>(n.attr("to"));
  REQUIRE(to != nullptr);
  CHECK(to->user == "15551234567");
  CHECK(to->device == 12);
  CHECK(to->server == "s.whatsapp.net");
  const Jid* participant = std::get_if<Jid>(n.attr("participant"));
  REQUIRE(participant != nullptr);
  CHECK(participant->is_lid());
  CHECK(participant->device == 3);
  // Plain strings stay strings.
  CHECK(std::holds_alternative<std::string>(*n.attr("t")));
}

TEST_CASE("compressed frames inflate before decoding", "[binary][vectors]") {
  for (const auto& v : test::vectors().items) {
    const Bytes wire = from_hex(v.find("hex_dict_v3")->text);
    const Bytes body(wire.begin() + 1, wire.end());
    const Bytes z = compress_frame(body);
    REQUIRE((z[0] & 0x02) != 0);
    CHECK(decode_frame(z, Dict::v3) == node_from_json(*v.find("node")));
  }
}
