#include <catch2/catch.hpp>

#include "core/binary/decoder.h"
#include "core/binary/encoder.h"
#include "sim/stanzas.h"

using wa::binary::Dict;
using wa::binary::Node;
using wa::binary::NodeList;

namespace {

Node roundtrip(const Node& n, Dict d) { return wa::binary::decode_frame(wa::binary::encode(n, d), d); }

}  // namespace

TEST_CASE("pair-device IQ is what Baileys and whatsmeow act on", "[sim][stanzas]") {
  auto refs = wa::sim::make_pair_refs(6);
  REQUIRE(refs.size() == 6);
  for (const auto& r : refs) CHECK(r.rfind("2@", 0) == 0);
  CHECK(refs[0] != refs[1]);

  for (Dict d : {Dict::v2, Dict::v3}) {
    auto n = roundtrip(wa::sim::pair_device_iq("123.45-1", refs), d);
    CHECK(n.tag == "iq");
    CHECK(n.attr_text("type") == "set");
    CHECK(n.attr_text("id") == "123.45-1");
    CHECK(n.attr_text("xmlns") == "md");
    // whatsmeow requires `from` to be the JID-typed bare server.
    const auto* from = n.attr("from");
    REQUIRE(from);
    REQUIRE(std::holds_alternative<wa::binary::Jid>(*from));
    CHECK(std::get<wa::binary::Jid>(*from).user.empty());
    CHECK(std::get<wa::binary::Jid>(*from).server == "s.whatsapp.net");
    // Exactly one child, pair-device, first (Baileys routes on the first child's tag).
    REQUIRE(n.children().size() == 1);
    const auto& pd = n.children()[0];
    CHECK(pd.tag == "pair-device");
    REQUIRE(pd.children().size() == 6);
    for (std::size_t i = 0; i < 6; ++i) {
      CHECK(pd.children()[i].tag == "ref");
      const auto* b = pd.children()[i].bytes();
      REQUIRE(b);  // BINARY content, not a string
      CHECK(std::string(b->begin(), b->end()) == refs[i]);
    }
  }
}

TEST_CASE("keepalive pings get a result with the same id", "[sim][stanzas]") {
  // whatsmeow: no child; Baileys: <ping/> child.
  Node wm{"iq", {{"id", std::string("1.2-3")}, {"xmlns", std::string("w:p")}, {"type", std::string("get")}}, {}};
  Node b6{"iq", {{"id", std::string("9")}, {"xmlns", std::string("w:p")}, {"type", std::string("get")}},
          NodeList{Node{"ping", {}, {}}}};
  for (const auto& in : {wm, b6}) {
    auto out = wa::sim::reply_to(in);
    REQUIRE(out.size() == 1);
    CHECK(out[0].tag == "iq");
    CHECK(out[0].attr_text("type") == "result");
    CHECK(out[0].attr_text("id") == in.attr_text("id"));
  }
}

TEST_CASE("other stanzas: cheap IQ results, 501 for the rest, acks, silence", "[sim][stanzas]") {
  Node count{"iq", {{"id", std::string("a")}, {"xmlns", std::string("encrypt")}, {"type", std::string("get")}},
             NodeList{Node{"count", {}, {}}}};
  auto c = wa::sim::reply_to(count);
  REQUIRE(c.size() == 1);
  REQUIRE(c[0].child("count"));
  CHECK(c[0].child("count")->attr_text("value") == "0");

  Node props{"iq", {{"id", std::string("p")}, {"xmlns", std::string("w")}, {"type", std::string("get")}},
             NodeList{Node{"props", {{"protocol", std::string("2")}}, {}}}};
  auto pr = wa::sim::reply_to(props);
  REQUIRE(pr.size() == 1);
  CHECK(pr[0].attr_text("type") == "result");
  REQUIRE(pr[0].child("props"));

  Node unknown{"iq", {{"id", std::string("b")}, {"xmlns", std::string("usync")}, {"type", std::string("get")}}, {}};
  auto u = wa::sim::reply_to(unknown);
  REQUIRE(u.size() == 1);
  CHECK(u[0].attr_text("type") == "error");
  REQUIRE(u[0].child("error"));
  CHECK(u[0].child("error")->attr_text("code") == "501");

  Node receipt{"receipt", {{"id", std::string("R1")}, {"type", std::string("read")}}, {}};
  auto a = wa::sim::reply_to(receipt);
  REQUIRE(a.size() == 1);
  CHECK(a[0].tag == "ack");
  CHECK(a[0].attr_text("class") == "receipt");
  CHECK(a[0].attr_text("id") == "R1");
  CHECK(a[0].attr_text("type") == "read");

  Node message{"message", {{"id", std::string("M1")}, {"type", std::string("text")}}, {}};
  auto m = wa::sim::reply_to(message);
  REQUIRE(m.size() == 1);
  CHECK_FALSE(m[0].attr("type"));  // not copied for messages

  CHECK(wa::sim::reply_to(Node{"presence", {{"type", std::string("available")}}, {}}).empty());
  CHECK(wa::sim::reply_to(Node{"iq", {{"id", std::string("x")}, {"type", std::string("result")}}, {}}).empty());
  CHECK(wa::sim::reply_to(Node{"iq", {{"type", std::string("get")}}, {}}).empty());
}

TEST_CASE("failure carries the reason", "[sim][stanzas]") {
  auto f = roundtrip(wa::sim::failure(401), Dict::v3);
  CHECK(f.tag == "failure");
  CHECK(f.attr_text("reason") == "401");
}
