#include <catch2/catch.hpp>

#include "core/socket/frame_codec.h"

using namespace wa::socket;
using wa::crypto::from_hex;
using wa::crypto::to_hex;

TEST_CASE("connection header and frame encoding", "[frame]") {
  CHECK(to_hex(connection_header()) == "57410603");
  CHECK(to_hex(connection_header(2)) == "57410602");
  CHECK(to_hex(encode_frame(from_hex("aabb"))) == "000002aabb");
  CHECK(encode_frame(Bytes(0x123456)).size() == 0x123456 + 3);
  CHECK_THROWS_AS(encode_frame(Bytes(kMaxFrameSize + 1)), FrameError);
  CHECK(encode_frame(Bytes(kMaxFrameSize)).size() == kMaxFrameSize + 3);
}

TEST_CASE("frames packed into one message and split across messages", "[frame]") {
  Bytes stream;
  append_frame(stream, from_hex("01"));
  append_frame(stream, {});
  append_frame(stream, Bytes(300, 7));
  for (std::size_t chunk : {1u, 2u, 5u, 1000u}) {
    FrameReader r;
    std::vector<Bytes> got;
    for (std::size_t off = 0; off < stream.size(); off += chunk) {
      r.feed(ByteView(stream).subspan(off, std::min(chunk, stream.size() - off)));
      while (auto f = r.next_frame()) got.push_back(*f);
    }
    REQUIRE(got.size() == 3);
    CHECK(got[0] == from_hex("01"));
    CHECK(got[1].empty());
    CHECK(got[2] == Bytes(300, 7));
    CHECK(r.buffered() == 0);
  }
}

TEST_CASE("server side reads the header and the dictionary version", "[frame]") {
  Bytes first = connection_header(2);
  append_frame(first, from_hex("1234"));
  FrameReader r(true);
  r.feed(ByteView(first).first(2));
  CHECK_FALSE(r.header());
  r.feed(ByteView(first).subspan(2));
  REQUIRE(r.header());
  CHECK(r.header()->dict_version == 2);
  CHECK(r.header()->routing_info.empty());
  CHECK(r.next_frame() == from_hex("1234"));
}

TEST_CASE("routing-info ED prefix before the header is accepted", "[frame]") {
  Bytes first = from_hex("45440001000003abcdef57410603000001ff");
  FrameReader r(true);
  r.feed(first);
  REQUIRE(r.header());
  CHECK(r.header()->dict_version == 3);
  CHECK(r.header()->routing_info == from_hex("abcdef"));
  CHECK(r.header()->prologue() == connection_header(3));
  CHECK(r.next_frame() == from_hex("ff"));
}

TEST_CASE("bad headers and oversized frames are errors", "[frame]") {
  CHECK_THROWS_AS(FrameReader(true).feed(from_hex("58")), FrameError);          // not 'W'
  CHECK_THROWS_AS(FrameReader(true).feed(from_hex("57410503")), FrameError);    // magic 5
  CHECK_THROWS_AS(FrameReader(true).feed(from_hex("4544000200")), FrameError);  // bad ED version
  FrameReader::Limits limits;
  limits.max_frame_size = 10;
  FrameReader r(false, limits);
  CHECK_THROWS_AS(r.feed(from_hex("00000b")), FrameError);  // 11 > 10, refused on the length alone
  CHECK_THROWS_AS(r.feed(from_hex("00")), FrameError);      // unusable afterwards
  FrameReader::Limits small;
  small.max_buffered = 8;
  FrameReader r2(false, small);
  CHECK_THROWS_AS(r2.feed(Bytes(9)), FrameError);
}
