#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "core/binary/tokens.h"

using namespace wa::binary;

TEST_CASE("token tables: lookups work both ways and every token is distinct", "[binary][tokens]") {
  for (Dict dict : {Dict::v3, Dict::v2}) {
    const Tokens& t = Tokens::get(dict);
    std::set<std::string> seen;
    for (unsigned i = 1; i < 236; ++i) {
      const auto s = t.single(static_cast<std::uint8_t>(i));
      REQUIRE(s.has_value());
      REQUIRE_FALSE(s->empty());
      const auto idx = t.find(*s);
      REQUIRE(idx.has_value());
      CHECK(idx->dict == -1);
      CHECK(idx->index == i);
      seen.emplace(*s);
    }
    for (unsigned d = 0; d < 4; ++d)
      for (unsigned i = 0; i < 256; ++i) {
        const auto s = t.double_byte(d, static_cast<std::uint8_t>(i));
        REQUIRE(s.has_value());
        const auto idx = t.find(*s);
        REQUIRE(idx.has_value());
        CHECK(idx->dict == static_cast<int>(d));
        CHECK(idx->index == i);
        seen.emplace(*s);
      }
    CHECK(seen.size() == 235 + 4 * 256);  // reference §5.7: all tokens distinct
    CHECK_FALSE(t.single(0).has_value());
    CHECK_FALSE(t.single(236).has_value());
    CHECK_FALSE(t.find("").has_value());
    CHECK_FALSE(t.find("not-a-token-at-all").has_value());
  }
  // Spot checks against the reference text (§5.7, vectors).
  CHECK(*Tokens::get(Dict::v3).single(3) == "s.whatsapp.net");
  CHECK(*Tokens::get(Dict::v3).single(2) == "xmlstreamend");
  CHECK(Tokens::get(Dict::v3).find("iq")->index == 0x19);
  CHECK(Tokens::get(Dict::v2).find("iq")->index == 0x1e);  // binary-vectors iq_ping, dict 2
  CHECK(parse_dict("2") == Dict::v2);
  CHECK(parse_dict("3") == Dict::v3);
  CHECK_FALSE(parse_dict("4").has_value());
}
