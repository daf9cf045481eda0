// Malformed and hostile input gives DecodeError (never a crash, never a huge allocation).
#include <catch2/catch.hpp>

#include <random>

#include "core/binary/decoder.h"
#include "core/binary/encoder.h"
#include "core/binary/frame.h"
#include "core/binary/node_json.h"
#include "tests/core_binary/test_util.h"

using namespace wa::binary;

namespace {

Bytes nested(std::size_t levels) {
  Bytes b{0x00};
  for (std::size_t i = 1; i < levels; ++i) b.insert(b.end(), {0xF8, 0x02, 0x19, 0xF8, 0x01});
  b.insert(b.end(), {0xF8, 0x01, 0x19});
  return b;
}

std::string error_of(const Bytes& wire, const DecodeLimits& limits = {}) {
  try {
    decode_frame(wire, Dict::v3, limits);
  } catch (const DecodeError& e) {
    return e.what();
  }
  return "decoded";
}

}  // namespace

TEST_CASE("nesting depth is limited", "[binary][limits]") {
  CHECK_NOTHROW(decode_frame(nested(64), Dict::v3));
  CHECK_THAT(error_of(nested(65)), Catch::Contains("nested deeper"));
  CHECK_THAT(error_of(nested(100000)), Catch::Contains("nested deeper"));
}

TEST_CASE("declared sizes larger than the input are rejected before allocating", "[binary][limits]") {
  // <iq> with BINARY_32 content of 4 GiB - 1 but 3 bytes present.
  CHECK_THAT(error_of(from_hex("00f80219feffffffff010203")), Catch::Contains("truncated"));
  // BINARY_20 raw string attribute value claiming 1 MiB - 1.
  CHECK_THAT(error_of(from_hex("00f8031911fd0fffff41")), Catch::Contains("truncated"));
  // LIST_16 with 65535 children and none present.
  CHECK_THAT(error_of(from_hex("00f80219f9ffff")), Catch::Contains("truncated"));
  // LIST_16 node header with 65535 items (32767 attributes) and nothing after the tag.
  CHECK_THAT(error_of(from_hex("00f9ffff19")), Catch::Contains("truncated"));
}

TEST_CASE("item count and input size are limited", "[binary][limits]") {
  Bytes wire = from_hex("00f80219f9ffff");
  for (int i = 0; i < 65535; ++i) wire.insert(wire.end(), {0xF8, 0x01, 0x19});
  CHECK_NOTHROW(decode_frame(wire, Dict::v3));
  DecodeLimits limits;
  limits.max_items = 1000;
  CHECK_THAT(error_of(wire, limits), Catch::Contains("more than 1000"));
  limits = {};
  limits.max_input = 100;
  CHECK_THAT(error_of(wire, limits), Catch::Contains("exceeds the limit"));
}

TEST_CASE("every truncation of every vector is a DecodeError", "[binary][limits]") {
  for (const auto& v : test::vectors().items) {
    for (const char* key : {"hex_dict_v3", "hex_dict_v2"}) {
      const Bytes wire = from_hex(v.find(key)->text);
      const Dict dict = std::string(key) == "hex_dict_v3" ? Dict::v3 : Dict::v2;
      for (std::size_t n = 0; n < wire.size(); ++n) {
        INFO(v.find("name")->text << " " << key << " prefix " << n);
        CHECK_THROWS_AS(decode_frame(std::span(wire).first(n), dict), DecodeError);
      }
    }
  }
}

TEST_CASE("bad tags, empty tags, bad nibbles and trailing bytes are errors", "[binary][limits]") {
  for (int t = 240; t <= 244; ++t) {
    Bytes wire{0x00, 0xF8, 0x01, static_cast<std::uint8_t>(t)};
    CHECK_THAT(error_of(wire), Catch::Contains("expected a string"));
  }
  CHECK_THAT(error_of(from_hex("0019")), Catch::Contains("expected a list tag"));        // not a list
  CHECK_THAT(error_of(from_hex("00f800")), Catch::Contains("size >= 1"));               // size 0
  CHECK_THAT(error_of(from_hex("00f80100")), Catch::Contains("non-empty tag"));         // tag ""
  CHECK_THAT(error_of(from_hex("00f80119ff")), Catch::Contains("left over"));           // trailing byte
  CHECK_THAT(error_of(from_hex("00f8031911ff01c1")), Catch::Contains("invalid nibble"));  // nibble 12
  CHECK_THAT(error_of(from_hex("00f8031911ff02f112")), Catch::Contains("filler"));      // filler mid-string
  CHECK_THAT(error_of(from_hex("00f8031911fa00")), Catch::Contains("truncated"));
  CHECK_THAT(error_of(from_hex("00f8031911fa0000")), Catch::Contains("empty server"));
  CHECK_THAT(error_of(from_hex("00f8031911fa00fa0003")), Catch::Contains("got a JID"));  // JID as server
  CHECK_THAT(error_of(from_hex("00f8031911f6ff02123400010f")), Catch::Contains("must be 'msgr'"));
  // JIDs nested in JID parts (found by the fuzzer as unbounded recursion): rejected at once.
  Bytes jids = from_hex("00f8031911");
  jids.insert(jids.end(), 200000, 0xFA);
  CHECK_THAT(error_of(jids), Catch::Contains("got a JID"));
  for (const char* t : {"f7", "f6", "f5"}) {
    Bytes w = from_hex(std::string("00f8031911fa") + t + "0000");
    CHECK_THAT(error_of(w), Catch::Contains("got a JID"));
  }
  CHECK_THAT(error_of(from_hex("00f80219f8")), Catch::Contains("truncated"));
  CHECK_THAT(error_of(Bytes{}), Catch::Contains("empty frame"));
  // The error names the offset.
  try {
    decode_frame(from_hex("00f8031911f0"), Dict::v3);
    FAIL("no error");
  } catch (const DecodeError& e) {
    CHECK(e.offset() == 4);
  }
}

TEST_CASE("zlib frames: bombs, corruption and truncation are errors", "[binary][limits]") {
  const Bytes zeros(64u << 20, 0);  // 64 MiB of zeros: ~64 KiB compressed
  const Bytes bomb = compress_frame(zeros);
  CHECK(bomb.size() < (1u << 20));
  CHECK_THAT(error_of(bomb), Catch::Contains("inflates beyond the limit"));
  DecodeLimits tight;
  tight.max_inflated = 1000;
  const Bytes ok_node = encode(Node{"iq", {{"id", "1"}}, Bytes(5000, 1)}, Dict::v3);
  const Bytes z = compress_frame(std::span(ok_node).subspan(1));
  CHECK_NOTHROW(decode_frame(z, Dict::v3));
  CHECK_THAT(error_of(z, tight), Catch::Contains("inflates beyond the limit"));

  Bytes corrupt = z;
  corrupt[1] ^= 0xFF;  // zlib header
  CHECK_THAT(error_of(corrupt), Catch::Contains("corrupt"));
  CHECK_THAT(error_of(Bytes(z.begin(), z.begin() + static_cast<std::ptrdiff_t>(z.size() / 2))), Catch::Contains("truncated"));
  Bytes trailing = z;
  trailing.push_back(0);
  CHECK_THAT(error_of(trailing), Catch::Contains("after the end of the zlib stream"));
}

TEST_CASE("random and mutated input never escapes as anything but DecodeError", "[binary][limits]") {
  std::mt19937 rng(424242);
  std::vector<Bytes> seeds;
  for (const auto& v : test::vectors().items) seeds.push_back(from_hex(v.find("hex_dict_v3")->text));
  int decoded = 0;
  for (int i = 0; i < 20000; ++i) {
    Bytes b;
    if (i % 2 == 0) {
      b.resize(rng() % 64);
      for (auto& x : b) x = static_cast<std::uint8_t>(rng());
      if (!b.empty()) b[0] = 0;
    } else {
      b = seeds[rng() % seeds.size()];
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < flips; ++k) b[1 + rng() % (b.size() - 1)] = static_cast<std::uint8_t>(rng());
    }
    try {
      decode_frame(b, Dict::v3);
      ++decoded;
    } catch (const DecodeError&) {
    }
  }
  // Some mutations still decode (e.g. a changed token); most do not. Either way: no crash.
  CHECK(decoded > 0);
  CHECK(decoded < 20000);
}
