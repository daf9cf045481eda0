#include <catch2/catch.hpp>

#include "core/crypto/random.h"
#include "core/socket/websocket_frame.h"

using namespace wa::socket;
using wa::crypto::from_hex;
using wa::crypto::to_hex;

namespace {
Bytes text(std::string_view s) { return Bytes(s.begin(), s.end()); }

std::vector<WsMessage> drain(WsFrameParser& p) {
  std::vector<WsMessage> out;
  while (auto m = p.next()) out.push_back(std::move(*m));
  return out;
}
}  // namespace

TEST_CASE("RFC 6455 §5.7 examples decode", "[websocket]") {
  // Unmasked "Hello" from a server.
  WsFrameParser client(WsFrameParser::Peer::server);
  client.feed(from_hex("810548656c6c6f"));
  auto m = client.next();
  REQUIRE(m);
  CHECK(m->opcode == WsOpcode::text);
  CHECK(m->payload == text("Hello"));
  // Masked "Hello" from a client.
  WsFrameParser server(WsFrameParser::Peer::client);
  server.feed(from_hex("818537fa213d7f9f4d5158"));
  m = server.next();
  REQUIRE(m);
  CHECK(m->payload == text("Hello"));
  // Fragmented unmasked text "Hel" + "lo".
  WsFrameParser frag(WsFrameParser::Peer::server);
  frag.feed(from_hex("010348656c"));
  CHECK_FALSE(frag.next());
  frag.feed(from_hex("80026c6f"));
  m = frag.next();
  REQUIRE(m);
  CHECK(m->payload == text("Hello"));
}

TEST_CASE("encoder matches the RFC examples and masks", "[websocket]") {
  CHECK(to_hex(encode_ws_frame(WsOpcode::text, text("Hello"))) == "810548656c6c6f");
  CHECK(to_hex(encode_ws_frame(WsOpcode::text, text("Hello"), true, std::array<std::uint8_t, 4>{0x37, 0xfa, 0x21, 0x3d})) ==
        "818537fa213d7f9f4d5158");
  CHECK_THROWS_AS(encode_ws_frame(WsOpcode::ping, Bytes(126)), std::invalid_argument);
  CHECK_THROWS_AS(encode_ws_frame(WsOpcode::close, {}, false), std::invalid_argument);
}

TEST_CASE("7, 16 and 64-bit lengths round trip byte by byte", "[websocket]") {
  for (std::size_t n : {0u, 125u, 126u, 65535u, 65536u, 70000u}) {
    Bytes payload = wa::crypto::random_bytes(n);
    Bytes wire = encode_ws_frame_masked(WsOpcode::binary, payload);
    WsFrameParser p(WsFrameParser::Peer::client);
    // Feed in uneven pieces to exercise every partial-header state.
    std::size_t off = 0, step = 1;
    while (off < wire.size()) {
      std::size_t k = std::min(step, wire.size() - off);
      p.feed(ByteView(wire).subspan(off, k));
      off += k;
      step = step * 3 + 1;
    }
    auto msgs = drain(p);
    REQUIRE(msgs.size() == 1);
    CHECK(msgs[0].opcode == WsOpcode::binary);
    CHECK(msgs[0].payload == payload);
    CHECK(p.buffered() == 0);
  }
}

TEST_CASE("control frames interleave with fragments - several frames in one read", "[websocket]") {
  Bytes wire = encode_ws_frame(WsOpcode::binary, text("ab"), false);
  auto ping = encode_ws_frame(WsOpcode::ping, text("p"));
  auto c1 = encode_ws_frame(WsOpcode::continuation, text("cd"), false);
  auto c2 = encode_ws_frame(WsOpcode::continuation, text("ef"), true);
  auto close = encode_ws_frame(WsOpcode::close, ws_close_payload(1000, "bye"));
  for (auto* f : {&ping, &c1, &c2, &close}) wire.insert(wire.end(), f->begin(), f->end());
  WsFrameParser p(WsFrameParser::Peer::server);
  p.feed(wire);
  auto msgs = drain(p);
  REQUIRE(msgs.size() == 3);
  CHECK(msgs[0].opcode == WsOpcode::ping);
  CHECK(msgs[1].opcode == WsOpcode::binary);
  CHECK(msgs[1].payload == text("abcdef"));
  CHECK(msgs[2].opcode == WsOpcode::close);
  CHECK(msgs[2].payload == ws_close_payload(1000, "bye"));
}

TEST_CASE("protocol violations are rejected with a close code", "[websocket]") {
  auto reject = [](WsFrameParser::Peer peer, const std::string& hex, std::uint16_t code) {
    WsFrameParser p(peer);
    try {
      p.feed(from_hex(hex));
      FAIL("accepted " << hex);
    } catch (const WebSocketError& e) {
      CHECK(e.close_code() == code);
    }
    CHECK_THROWS_AS(p.feed(from_hex("00")), WebSocketError);  // unusable afterwards
  };
  using P = WsFrameParser::Peer;
  reject(P::client, "810548656c6c6f", ws_close::protocol_error);      // unmasked from client
  reject(P::server, "818537fa213d7f9f4d5158", ws_close::protocol_error);  // masked from server
  reject(P::server, "c100", ws_close::protocol_error);                 // RSV1 without extension
  reject(P::server, "8300", ws_close::protocol_error);                 // reserved opcode 3
  reject(P::server, "0900", ws_close::protocol_error);                 // fragmented ping
  reject(P::server, "897e007e", ws_close::protocol_error);             // ping > 125
  reject(P::server, "8000", ws_close::protocol_error);                 // continuation with nothing started
  reject(P::server, "02016181016202", ws_close::protocol_error);       // new message mid-fragment
  reject(P::server, "827e0010", ws_close::protocol_error);             // non-minimal 16-bit length
  reject(P::server, "827f8000000000000000", ws_close::protocol_error);  // 64-bit top bit
  reject(P::server, "880103", ws_close::protocol_error);               // 1-byte close payload
}

TEST_CASE("message size limit applies to frames and reassembly", "[websocket]") {
  WsParserLimits limits;
  limits.max_message_size = 100;
  {
    WsFrameParser p(WsFrameParser::Peer::server, limits);
    // Announces 2^40 bytes: rejected on the header, without waiting for the payload.
    CHECK_THROWS_AS(p.feed(from_hex("827f0000010000000000")), WebSocketError);
  }
  {
    WsFrameParser p(WsFrameParser::Peer::server, limits);
    p.feed(encode_ws_frame(WsOpcode::binary, Bytes(60), false));
    try {
      p.feed(encode_ws_frame(WsOpcode::continuation, Bytes(60), true));
      FAIL("reassembly over the limit accepted");
    } catch (const WebSocketError& e) {
      CHECK(e.close_code() == ws_close::too_big);
    }
  }
  {
    WsFrameParser p(WsFrameParser::Peer::server, limits);
    p.feed(encode_ws_frame(WsOpcode::binary, Bytes(100)));
    CHECK(p.next()->payload.size() == 100);
  }
}
