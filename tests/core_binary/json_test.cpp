#include <catch2/catch.hpp>

#include "core/binary/encoder.h"
#include "core/binary/json.h"
#include "core/binary/node_json.h"

using namespace wa::binary;

TEST_CASE("JSON parser reads values in order", "[binary][json]") {
  const Json j = parse_json(R"( {"b": [1, -2.5e3, true, false, null], "a": "x\u00e4\ud83d\ude00\n\"", "c": {}} )");
  REQUIRE(j.type == Json::Type::object);
  REQUIRE(j.members.size() == 3);
  CHECK(j.members[0].key == "b");
  CHECK(j.members[1].key == "a");
  CHECK(j.find("a")->text == "x\xC3\xA4\xF0\x9F\x98\x80\n\"");
  CHECK(j.find("b")->items.at(1).text == "-2.5e3");
  CHECK(j.find("b")->items.at(2).boolean);
  CHECK(j.find("b")->items.at(4).type == Json::Type::null);
}

TEST_CASE("JSON parser rejects malformed and oversized input", "[binary][json]") {
  for (const char* bad : {"", "{", "[1,]", "{\"a\" 1}", "\"abc", "\"\\x\"", "\"\\ud800\"", "01x", "[1] 2",
                          "\"\x01\"", "\"\xff\"", "tru", "{\"a\":1,}"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_json(bad), JsonError);
  }
  CHECK_THROWS_AS(parse_json(std::string(300, '[') + std::string(300, ']')), JsonError);
  JsonLimits small;
  small.max_size = 10;
  CHECK_THROWS_AS(parse_json("[1,2,3,4,5,6]", small), JsonError);
  small.max_size = 1000;
  small.max_items = 3;
  CHECK_THROWS_AS(parse_json("[1,2,3,4]", small), JsonError);
}

TEST_CASE("JSON writer escapes and replaces invalid UTF-8", "[binary][json]") {
  std::string out;
  append_json_string(out, std::string("a\"\\\n\x01\xC3\xA4\xFF", 8));
  CHECK(out == "\"a\\\"\\\\\\n\\u0001\xC3\xA4\xEF\xBF\xBD\"");
  CHECK(parse_json(out).text == std::string("a\"\\\n\x01\xC3\xA4\xEF\xBF\xBD"));
}

TEST_CASE("node JSON: content kinds, attrs as object, JIDs by '@'", "[binary][json]") {
  const Node n = node_from_json_text(
      R"({"tag":"message","attrs":{"to":"1@s.whatsapp.net","id":"x@"},"content":[{"tag":"body","content":"hi"},)"
      R"({"tag":"enc","content":{"bytes_hex":"00ff"}},{"tag":"jid","content":"2:1@lid"},{"tag":"empty","content":[]}]})");
  CHECK(std::holds_alternative<Jid>(*n.attr("to")));
  CHECK(std::holds_alternative<std::string>(*n.attr("id")));  // not a valid JID -> stays a string
  REQUIRE(n.children().size() == 4);
  CHECK(std::get<std::string>(n.children()[0].content) == "hi");
  CHECK(*n.children()[1].bytes() == Bytes{0x00, 0xFF});
  CHECK(std::get<Jid>(n.children()[2].content).device == 1);
  CHECK(std::get<NodeList>(n.children()[3].content).empty());
  CHECK(node_from_json_text(node_to_json(n)) == n);
  CHECK(node_to_json(Node{"a", {{"k", "v"}}, {}}) == R"({"tag":"a","attrs":[["k","v"]]})");
}

TEST_CASE("the deepest node the decoder accepts prints as JSON that reads back", "[binary][json]") {
  Node root{"a", {{"k", "v"}}, {}};
  for (int i = 1; i < 64; ++i) root = Node{"a", {{"k", "v"}}, NodeList{root}};
  const Node back = node_from_json_text(node_to_json(root));
  CHECK(back == root);
  CHECK_NOTHROW(encode(back, Dict::v3));
  CHECK_THROWS_AS(encode(Node{"a", {}, NodeList{root}}, Dict::v3), EncodeError);
}

TEST_CASE("node JSON shape errors name the path", "[binary][json]") {
  auto err = [](const char* text) {
    try {
      node_from_json_text(text);
    } catch (const JsonError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(err(R"({"attrs":[]})"), Catch::Contains("missing \"tag\""));
  CHECK_THAT(err(R"({"tag":"a","attrs":[["k"]]})"), Catch::Contains("$.attrs[0]"));
  CHECK_THAT(err(R"({"tag":"a","content":[{"tag":"b","content":{"bytes_hex":"abc"}}]})"),
             Catch::Contains("$.content[0].content.bytes_hex"));
  CHECK_THAT(err(R"({"tag":"a","content":5})"), Catch::Contains("$.content"));
  CHECK_THAT(err(R"({"tag":"a","extra":1})"), Catch::Contains("unknown member"));
  CHECK_THAT(err(R"({"tag":""})"), Catch::Contains("empty tag"));
}
