// The view decoder (DecodedFrame) reads exactly what the Node decoder reads, refuses exactly what
// it refuses, and its views stay valid for as long as the frame lives (moves, later frames,
// frames too big for the first block).
#include <catch2/catch.hpp>

#include "core/binary/decoder.h"
#include "core/binary/encoder.h"
#include "core/binary/frame.h"
#include "core/binary/node_json.h"
#include "tests/core_binary/test_util.h"

using namespace wa::binary;

namespace {

// Compares through the view accessors (not only to_node), so each accessor is checked.
void check_same(const NodeView& v, const Node& n) {
  REQUIRE(v.tag() == n.tag);
  REQUIRE(v.attrs().size() == n.attrs.size());
  for (std::size_t i = 0; i < n.attrs.size(); ++i) {
    const AttrView& a = v.attrs()[i];
    CHECK(a.key == n.attrs[i].key);
    CHECK(a.to_value() == n.attrs[i].value);
    if (const auto* j = std::get_if<Jid>(&n.attrs[i].value)) {
      REQUIRE(a.is_jid());
      CHECK(a.jid().to_jid() == *j);
      CHECK(a.to_text() == j->to_string());
    } else {
      REQUIRE_FALSE(a.is_jid());
      CHECK(a.text == std::get<std::string>(n.attrs[i].value));
    }
    // attr() finds the first attribute with the key, as Node::attr does.
    REQUIRE(v.attr(a.key) != nullptr);
    CHECK(v.attr(a.key)->to_value() == *n.attr(n.attrs[i].key));
  }
  CHECK(v.attr("no such key") == nullptr);
  if (const auto* list = std::get_if<NodeList>(&n.content)) {
    REQUIRE(v.content_kind() == ContentKind::list);
    REQUIRE(v.children().size() == list->size());
    std::size_t i = 0;
    for (const NodeView c : v.children()) check_same(c, (*list)[i++]);
    if (!list->empty()) {
      REQUIRE(v.child((*list)[0].tag).has_value());
      CHECK(v.child((*list)[0].tag)->tag() == (*list)[0].tag);
    }
  } else if (const auto* b = std::get_if<Bytes>(&n.content)) {
    REQUIRE(v.content_kind() == ContentKind::bytes);
    CHECK(Bytes(v.bytes().begin(), v.bytes().end()) == *b);
    CHECK(v.children().empty());
  } else if (const auto* s = std::get_if<std::string>(&n.content)) {
    REQUIRE(v.content_kind() == ContentKind::string);
    CHECK(v.text() == *s);
  } else if (const auto* j = std::get_if<Jid>(&n.content)) {
    REQUIRE(v.content_kind() == ContentKind::jid);
    REQUIRE(v.jid().has_value());
    CHECK(v.jid()->to_jid() == *j);
  } else {
    CHECK(v.content_kind() == ContentKind::none);
    CHECK(v.bytes().empty());
    CHECK(v.text().empty());
    CHECK_FALSE(v.jid().has_value());
  }
  CHECK(v.to_node() == n);
}

// A stanza bigger than any first block: many children, many attributes and much packed text,
// so the node table, the attribute table and the text arena all spill to the heap.
Node big_node() {
  NodeList users;
  for (int i = 0; i < 600; ++i) {
    Node u{"user", {}, {}};
    u.attrs.push_back({"jid", Jid{std::to_string(15550000000LL + i), "s.whatsapp.net", 0, std::uint16_t(i % 50), 0}});
    u.attrs.push_back({"id", "3EB0" + std::to_string(1000000000000000LL + i)});  // nibble-packed
    u.attrs.push_back({"t", std::to_string(1700000000 + i)});
    u.attrs.push_back({"name", "Contact " + std::to_string(i)});
    u.content = NodeList{Node{"devices", {{"version", "2"}}, Bytes(i % 7, std::uint8_t(i))}};
    users.push_back(std::move(u));
  }
  return Node{"usync", {{"sid", "123456789012"}, {"mode", "query"}}, NodeList{Node{"list", {}, std::move(users)}}};
}

}  // namespace

TEST_CASE("views of every vector read the same node as decode_frame", "[binary][views]") {
  for (const auto& v : test::vectors().items) {
    for (const auto& [dict, key] : {std::pair{Dict::v3, "hex_dict_v3"}, std::pair{Dict::v2, "hex_dict_v2"}}) {
      INFO(v.find("name")->text << " " << key);
      const Bytes wire = from_hex(v.find(key)->text);
      const Node expected = node_from_json(*v.find("node"));
      const DecodedFrame f = decode_frame_view(wire, dict);
      check_same(f.root(), expected);
      // The taking-over form reads the same and does not copy the bytes.
      Bytes owned = wire;
      const std::uint8_t* data = owned.data();
      const DecodedFrame g = decode_frame_view(std::move(owned), dict);
      CHECK(g.node_bytes().data() == data + 1);
      check_same(g.root(), expected);
    }
  }
}

TEST_CASE("views stay valid across moves, later frames and heap spills", "[binary][views]") {
  const Node big = big_node();
  const Node small{"iq", {{"id", "3EB0ABCDEF0123456789"}, {"t", "1712345678"}}, Bytes{1, 2, 3}};
  const Bytes big_wire = encode(big, Dict::v3);
  const Bytes small_wire = encode(small, Dict::v3);

  DecodedFrame a = decode_frame_view(big_wire, Dict::v3);
  const NodeView a_root = a.root();
  const std::string_view first_id = a_root.children()[0].children()[0].attr("id")->text;
  // More frames than the block cache holds, alive at once, then freed in another order.
  std::vector<DecodedFrame> frames;
  for (int i = 0; i < 10; ++i) frames.push_back(decode_frame_view(i % 2 ? small_wire : big_wire, Dict::v3));
  for (int i = 0; i < 10; ++i) check_same(frames[std::size_t(i)].root(), i % 2 ? small : big);
  frames.erase(frames.begin() + 3, frames.begin() + 7);
  for (int i = 0; i < 20; ++i) {
    const DecodedFrame t = decode_frame_view(small_wire, Dict::v3);
    check_same(t.root(), small);
  }
  // A moved frame keeps its views: the same root view still reads the same node.
  DecodedFrame moved = std::move(a);
  check_same(a_root, big);
  CHECK(first_id == "3EB01000000000000000");
  DecodedFrame assigned;
  assigned = std::move(moved);
  check_same(assigned.root(), big);
  check_same(a_root, big);
  // frames now holds the frames decoded 0, 1, 2, 7, 8, 9th: the same small/big alternation.
  for (std::size_t i = 0; i < frames.size(); ++i) check_same(frames[i].root(), i % 2 ? small : big);
}

TEST_CASE("views of compressed frames", "[binary][views]") {
  const Node big = big_node();
  const Bytes wire = encode(big, Dict::v3);
  const Bytes z = compress_frame(std::span(wire).subspan(1));
  check_same(decode_frame_view(z, Dict::v3).root(), big);
  check_same(decode_frame_view(Bytes(z), Dict::v3).root(), big);
}

TEST_CASE("the view decoder refuses what decode_frame refuses, with the same error", "[binary][views]") {
  auto error_of = [](auto&& decode) -> std::string {
    try {
      decode();
    } catch (const DecodeError& e) {
      return e.what();
    }
    return "decoded";
  };
  std::vector<Bytes> inputs = {Bytes{}, from_hex("00"), from_hex("0019"), from_hex("00f800"), from_hex("00f80100"),
                               from_hex("00f80119ff"), from_hex("00f8031911ff01c1"), from_hex("00f8031911ff02f112"),
                               from_hex("00f8031911fa0000"), from_hex("00f8031911fa00fa0003"),
                               from_hex("00f80219f9ffff"), from_hex("00f9ffff19"), from_hex("00f80219feffffffff010203"),
                               from_hex("02789c03")};
  for (const auto& v : test::vectors().items) {
    const Bytes wire = from_hex(v.find("hex_dict_v3")->text);
    for (std::size_t n = 0; n < wire.size(); ++n) inputs.emplace_back(wire.begin(), wire.begin() + std::ptrdiff_t(n));
  }
  for (const auto& in : inputs) {
    INFO(to_hex(in));
    const std::string want = error_of([&] { decode_frame(in, Dict::v3); });
    CHECK(want != "decoded");
    CHECK(error_of([&] { decode_frame_view(in, Dict::v3); }) == want);
    CHECK(error_of([&] { decode_frame_view(Bytes(in), Dict::v3); }) == want);
  }
  // The limits hold on the view path too.
  DecodeLimits limits;
  limits.max_items = 1000;
  CHECK_THAT(error_of([&] { decode_frame_view(encode(big_node(), Dict::v3), Dict::v3, limits); }),
             Catch::Contains("more than 1000"));
  limits = {};
  limits.max_depth = 3;
  const Node deep{"a", {}, NodeList{Node{"b", {}, NodeList{Node{"c", {}, NodeList{Node{"d", {}, {}}}}}}}};
  CHECK_THAT(error_of([&] { decode_frame_view(encode(deep, Dict::v3), Dict::v3, limits); }),
             Catch::Contains("nested deeper"));
  limits = {};
  limits.max_input = 10;
  CHECK_THAT(error_of([&] { decode_frame_view(encode(deep, Dict::v3), Dict::v3, limits); }),
             Catch::Contains("exceeds the limit"));
}
