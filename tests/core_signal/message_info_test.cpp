// <message> stanza parsing, with stanzas shaped as the real service sends them (e2e reference §4.1,
// wa-beyond-text §4 for LID addressing), passed through the binary codec so JIDs arrive as on the
// wire.
#include <catch2/catch.hpp>

#include "core/binary/decoder.h"
#include "core/binary/encoder.h"
#include "core/binary/node_json.h"
#include "core/client/message_info.h"

using namespace wa;
using namespace wa::client;
using binary::Jid;

namespace {
binary::Node wire(std::string_view json) {
  auto n = binary::node_from_json_text(json);
  auto bytes = binary::encode(n, binary::Dict::v3);
  return binary::decode_frame(bytes, binary::Dict::v3);
}
Jid jid(std::string_view s) {
  return *Jid::parse(s);
}
OwnJids own() {
  return OwnJids{jid("15550009999:4@s.whatsapp.net"), jid("900000000000009:4@lid")};
}
}  // namespace

TEST_CASE("a 1:1 pkmsg from a phone-number sender", "[message_info]") {
  auto info = parse_message_info(wire(R"({"tag":"message","attrs":{"from":"15550001111:3@s.whatsapp.net",
      "type":"text","id":"3EB0C431C26A1916E07E","t":"1764380000","notify":"Alice",
      "sender_lid":"100000000000001:3@lid"},
      "content":[{"tag":"enc","attrs":{"v":"2","type":"pkmsg"},"content":{"bytes_hex":"33081f"}}]})"),
                                 own());
  CHECK(info.id == "3EB0C431C26A1916E07E");
  CHECK(info.from == jid("15550001111:3@s.whatsapp.net"));
  CHECK(info.chat == jid("15550001111@s.whatsapp.net"));
  CHECK(info.sender == jid("15550001111:3@s.whatsapp.net"));
  REQUIRE(info.sender_alt);
  CHECK(*info.sender_alt == jid("100000000000001:3@lid"));
  CHECK(info.timestamp == 1764380000);
  CHECK(info.type == "text");
  CHECK(info.notify == "Alice");
  CHECK_FALSE(info.is_group);
  CHECK_FALSE(info.is_from_me);
  REQUIRE(info.encs.size() == 1);
  CHECK(info.encs[0].type == EncType::pkmsg);
  CHECK(info.encs[0].version == 2);
  CHECK(info.encs[0].ciphertext == binary::Bytes{0x33, 0x08, 0x1f});
}

TEST_CASE("a 1:1 msg addressed by LID, with sender_pn", "[message_info]") {
  auto info = parse_message_info(wire(R"({"tag":"message","attrs":{"from":"100000000000001:3@lid",
      "type":"text","id":"ABCD1234","t":"1764380001","sender_pn":"15550001111:3@s.whatsapp.net",
      "offline":"1"},
      "content":[{"tag":"enc","attrs":{"v":"2","type":"msg","count":"2"},"content":{"bytes_hex":"330a"}}]})"));
  CHECK(info.chat == jid("100000000000001@lid"));
  CHECK(info.sender.is_lid());
  REQUIRE(info.sender_alt);
  CHECK(*info.sender_alt == jid("15550001111:3@s.whatsapp.net"));
  CHECK(info.offline);
  CHECK(info.encs[0].type == EncType::msg);
  CHECK(info.encs[0].count == 2);
}

TEST_CASE("a group message in LID addressing mode with SKDM and skmsg", "[message_info]") {
  auto info = parse_message_info(wire(R"({"tag":"message","attrs":{"from":"120363000000000001@g.us",
      "participant":"100000000000002:2@lid","participant_pn":"15550002222:2@s.whatsapp.net",
      "addressing_mode":"lid","type":"text","id":"3EB0AA","t":"1764380002"},
      "content":[{"tag":"enc","attrs":{"v":"2","type":"pkmsg"},"content":{"bytes_hex":"3301"}},
                 {"tag":"enc","attrs":{"v":"2","type":"skmsg"},"content":{"bytes_hex":"3302"}}]})"),
                                 own());
  CHECK(info.is_group);
  CHECK(info.chat == jid("120363000000000001@g.us"));
  CHECK(info.sender == jid("100000000000002:2@lid"));
  CHECK(*info.sender_alt == jid("15550002222:2@s.whatsapp.net"));
  CHECK(info.addressing_mode == AddressingMode::lid);
  REQUIRE(info.encs.size() == 2);
  CHECK(info.encs[0].type == EncType::pkmsg);
  CHECK(info.encs[1].type == EncType::skmsg);
  CHECK_FALSE(info.is_from_me);
}

TEST_CASE("a group message in PN mode from our own other device", "[message_info]") {
  auto info = parse_message_info(wire(R"({"tag":"message","attrs":{"from":"120363000000000001@g.us",
      "participant":"15550009999:7@s.whatsapp.net","participant_lid":"900000000000009:7@lid",
      "addressing_mode":"pn","type":"text","id":"X1","t":"1764380003"},
      "content":[{"tag":"enc","attrs":{"v":"2","type":"skmsg"},"content":{"bytes_hex":"33"}}]})"),
                                 own());
  CHECK(info.is_from_me);
  CHECK(info.addressing_mode == AddressingMode::pn);
  CHECK(*info.sender_alt == jid("900000000000009:7@lid"));
}

TEST_CASE("a DM copy from our own other device names the chat in recipient", "[message_info]") {
  auto info = parse_message_info(wire(R"({"tag":"message","attrs":{"from":"900000000000009:7@lid",
      "recipient":"100000000000001@lid","peer_recipient_pn":"15550001111@s.whatsapp.net",
      "type":"text","id":"X2","t":"1764380004","category":"peer"},
      "content":[{"tag":"enc","attrs":{"v":"2","type":"msg"},"content":{"bytes_hex":"33"}}]})"),
                                 own());
  CHECK(info.is_from_me);
  CHECK(info.chat == jid("100000000000001@lid"));
  CHECK(info.sender == jid("900000000000009:7@lid"));
  REQUIRE(info.recipient_alt);
  CHECK(*info.recipient_alt == jid("15550001111@s.whatsapp.net"));
  CHECK(info.category == "peer");
  // Without knowing our own JIDs it is just a DM from that device.
  auto anon = parse_message_info(wire(R"({"tag":"message","attrs":{"from":"900000000000009:7@lid",
      "recipient":"100000000000001@lid","id":"X2","t":"1"},"content":[]})"));
  CHECK_FALSE(anon.is_from_me);
  CHECK(anon.chat == jid("900000000000009@lid"));
}

TEST_CASE("unavailable, unknown enc types and v=3 are reported, not dropped", "[message_info]") {
  auto info = parse_message_info(wire(R"({"tag":"message","attrs":{"from":"15550001111@s.whatsapp.net",
      "id":"U1","t":"5","type":"media"},
      "content":[{"tag":"unavailable","attrs":{"type":"view_once"}},
                 {"tag":"enc","attrs":{"v":"3","type":"msmsg","mediatype":"image","decrypt-fail":"hide"},
                  "content":{"bytes_hex":"01"}},
                 {"tag":"enc","attrs":{"v":"2","type":"frob"},"content":{"bytes_hex":"02"}}]})"));
  CHECK(info.unavailable);
  REQUIRE(info.encs.size() == 2);
  CHECK(info.encs[0].version == 3);
  CHECK(info.encs[0].type == EncType::msmsg);
  CHECK(info.encs[0].mediatype == "image");
  CHECK(info.encs[0].decrypt_fail_hide);
  CHECK(info.encs[1].type == EncType::unknown);
  CHECK(info.encs[1].type_text == "frob");
  CHECK(info.sender == jid("15550001111@s.whatsapp.net"));
  CHECK_FALSE(info.sender.device);
}

TEST_CASE("malformed stanzas give clear errors", "[message_info]") {
  auto fails = [](std::string_view json, std::string_view what) {
    INFO(json);
    CHECK_THROWS_WITH(parse_message_info(wire(json)), Catch::Contains(std::string(what)));
  };
  fails(R"({"tag":"message","attrs":{"from":"1@s.whatsapp.net","t":"1"}})", "missing attribute id");
  fails(R"({"tag":"message","attrs":{"id":"a","t":"1"}})", "missing attribute from");
  fails(R"({"tag":"message","attrs":{"id":"a","from":"1@s.whatsapp.net"}})", "missing attribute t");
  fails(R"({"tag":"message","attrs":{"id":"a","from":"1@s.whatsapp.net","t":"soon"}})", "not a unix time");
  fails(R"({"tag":"message","attrs":{"id":"a","from":"1@s.whatsapp.net","t":"-5"}})", "not a unix time");
  fails(R"({"tag":"message","attrs":{"id":"a","from":"not a jid","t":"1"}})", "from is not a user JID");
  fails(R"({"tag":"message","attrs":{"id":"a","from":"@s.whatsapp.net","t":"1"}})", "from is not a user JID");
  fails(R"({"tag":"message","attrs":{"id":"a","from":"1@g.us","t":"1"}})", "missing attribute participant");
  fails(R"({"tag":"message","attrs":{"id":"a","from":"1@g.us","t":"1","participant":"2@lid",
        "addressing_mode":"email"}})",
        "unknown addressing_mode");
  fails(R"({"tag":"message","attrs":{"id":"a","from":"1@s.whatsapp.net","t":"1"},
        "content":[{"tag":"enc","attrs":{"type":"msg"},"content":{"bytes_hex":"33"}}]})",
        "<enc> without v");
  fails(R"({"tag":"message","attrs":{"id":"a","from":"1@s.whatsapp.net","t":"1"},
        "content":[{"tag":"enc","attrs":{"v":"1","type":"msg"},"content":{"bytes_hex":"33"}}]})",
        "unsupported version");
  fails(R"({"tag":"message","attrs":{"id":"a","from":"1@s.whatsapp.net","t":"1"},
        "content":[{"tag":"enc","attrs":{"v":"2"},"content":{"bytes_hex":"33"}}]})",
        "<enc> without type");
  fails(R"({"tag":"message","attrs":{"id":"a","from":"1@s.whatsapp.net","t":"1"},
        "content":[{"tag":"enc","attrs":{"v":"2","type":"msg"}}]})",
        "without ciphertext");
  fails(R"({"tag":"message","attrs":{"id":"a","from":"1@s.whatsapp.net","t":"1"},
        "content":[{"tag":"enc","attrs":{"v":"2","type":"msg","count":"x"},"content":{"bytes_hex":"33"}}]})",
        "count is not a number");
  fails(R"({"tag":"receipt","attrs":{"id":"a"}})", "not a <message>");

  std::string many = R"({"tag":"message","attrs":{"id":"a","from":"1@s.whatsapp.net","t":"1"},"content":[)";
  for (int i = 0; i < 9; ++i)
    many += std::string(i ? "," : "") +
            R"({"tag":"enc","attrs":{"v":"2","type":"msg"},"content":{"bytes_hex":"33"}})";
  many += "]}";
  fails(many, "too many <enc>");
  fails(R"({"tag":"message","attrs":{"id":")" + std::string(129, 'A') +
            R"(","from":"1@s.whatsapp.net","t":"1"}})",
        "id is too long");
}
