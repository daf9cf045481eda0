// End to end on loopback: connect_and_handshake() against an in-test server that runs the
// ServerHandshake state machine, then encrypted frames both ways (packed and split).
#include <catch2/catch.hpp>

#include <atomic>

#include "core/crypto/random.h"
#include "core/socket/cert_chain.h"
#include "core/socket/client_connect.h"
#include "core/socket/frame_codec.h"
#include "core/socket/noise_handshake.h"
#include "test_ws_server.h"

using namespace wa::socket;
using wa::crypto::KeyPair;
using wa::test::TestWsConn;
using wa::test::TestWsServer;

namespace {

std::uint64_t now_unix() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

// Server side of the handshake over a TestWsConn; returns the transport and what the client sent.
struct ServerSide {
  KeyPair root = KeyPair::generate();
  KeyPair static_key = KeyPair::generate();
  FrameReader reader{true};
  std::optional<ConnectionHeader> header;
  ClientFinishResult finish;

  Bytes next_frame(TestWsConn& c) {
    for (;;) {
      if (auto f = reader.next_frame()) return *f;
      auto m = c.read_message();
      if (m.opcode == WsOpcode::close) throw std::runtime_error("client closed");
      if (m.opcode == WsOpcode::binary) reader.feed(m.payload);
    }
  }

  NoiseTransport handshake(TestWsConn& c) {
    c.upgrade();
    Bytes hello = next_frame(c);
    header = reader.header();
    CertIssueOptions o;
    o.not_before = now_unix() - 3600;
    o.not_after = now_unix() + 3600;
    ServerHandshake hs({static_key, issue_cert_chain(root, static_key.pub, o)}, header->prologue());
    c.send(WsOpcode::binary, encode_frame(hs.process_client_hello(hello)));
    finish = hs.process_client_finish(next_frame(c));
    return hs.transport();
  }
};

}  // namespace

TEST_CASE("connect_and_handshake completes and carries encrypted frames both ways", "[handshake]") {
  TestWsServer server;
  ServerSide ss;
  Bytes payload = wa::crypto::random_bytes(120);
  KeyPair noise = KeyPair::generate();
  std::vector<Bytes> server_got;
  server.serve([&](TestWsConn& c) {
    NoiseTransport t = ss.handshake(c);
    // Two frames packed into one websocket message...
    Bytes packed;
    append_frame(packed, t.encrypt(wa::crypto::view("one")));
    append_frame(packed, t.encrypt(wa::crypto::view("two")));
    c.send(WsOpcode::binary, packed);
    // ...and one frame split across two messages.
    Bytes split = encode_frame(t.encrypt(Bytes(5000, 3)));
    c.send(WsOpcode::binary, wa::socket::ByteView(split).first(10));
    c.send(WsOpcode::binary, wa::socket::ByteView(split).subspan(10));
    for (int i = 0; i < 2; ++i) server_got.push_back(t.decrypt(ss.next_frame(c)));
    c.send(WsOpcode::close, ws_close_payload(1000, ""));
    c.read_message();
  });

  asio::io_context io;
  ClientConnectOptions opts;
  opts.url = server.url();
  opts.trusted_root = ss.root.pub;
  opts.noise_key = noise;
  opts.client_payload = payload;
  std::vector<Bytes> client_got;
  std::optional<WsCloseInfo> closed;
  std::exception_ptr err;
  std::shared_ptr<FrameSocket> sock;
  connect_and_handshake(io, opts, [&](std::exception_ptr e, std::shared_ptr<FrameSocket> s) {
    err = e;
    sock = s;
    if (!s) return;
    s->set_close_handler([&](const WsCloseInfo& info) { closed = info; });
    s->set_frame_handler([&, s](Bytes f) {
      client_got.push_back(std::move(f));
      if (client_got.size() == 3) {
        s->send_frame(wa::crypto::to_bytes(std::string_view("up-1")));
        s->send_frame(Bytes(70000, 9));
      }
    });
  });
  io.run_for(std::chrono::seconds(15));
  server.stop();
  CHECK(server.error().empty());
  REQUIRE_FALSE(err);
  REQUIRE(ss.header);
  CHECK(ss.header->dict_version == 3);
  CHECK(ss.finish.client_static == noise.pub);
  CHECK(ss.finish.client_payload == payload);
  REQUIRE(client_got.size() == 3);
  CHECK(client_got[0] == wa::crypto::to_bytes(std::string_view("one")));
  CHECK(client_got[1] == wa::crypto::to_bytes(std::string_view("two")));
  CHECK(client_got[2] == Bytes(5000, 3));
  REQUIRE(server_got.size() == 2);
  CHECK(server_got[0] == wa::crypto::to_bytes(std::string_view("up-1")));
  CHECK(server_got[1] == Bytes(70000, 9));
  REQUIRE(closed);
  CHECK(closed->by_peer);
}

TEST_CASE("connect_and_handshake fails with the chain error for a wrong root", "[handshake]") {
  TestWsServer server;
  ServerSide ss;
  server.serve([&](TestWsConn& c) { ss.handshake(c); });
  asio::io_context io;
  ClientConnectOptions opts;
  opts.url = server.url();
  opts.trusted_root = wa_production_root_key();  // wasim-like server is not signed by it
  opts.noise_key = KeyPair::generate();
  int handshake_errors = 0;
  opts.websocket.on_decode_error = [&](const char* kind) { handshake_errors += std::string(kind) == "handshake"; };
  std::exception_ptr err;
  bool called = false;
  connect_and_handshake(io, opts, [&](std::exception_ptr e, std::shared_ptr<FrameSocket> s) {
    called = true;
    err = e;
    CHECK_FALSE(s);
  });
  io.run_for(std::chrono::seconds(10));
  server.stop();
  REQUIRE(called);
  REQUIRE(err);
  CHECK_THROWS_AS(std::rethrow_exception(err), CertChainError);
  CHECK(handshake_errors == 1);
}

TEST_CASE("connect_and_handshake times out when no ServerHello comes", "[handshake]") {
  TestWsServer server;
  server.serve([&](TestWsConn& c) {
    c.upgrade();
    c.read_message();  // the ClientHello, never answered
    c.read_message();  // blocks until the client gives up and drops the connection
  });
  asio::io_context io;
  ClientConnectOptions opts;
  opts.url = server.url();
  opts.noise_key = KeyPair::generate();
  opts.handshake_timeout = std::chrono::milliseconds(300);
  std::exception_ptr err;
  auto start = std::chrono::steady_clock::now();
  connect_and_handshake(io, opts, [&](std::exception_ptr e, std::shared_ptr<FrameSocket>) { err = e; });
  io.run_for(std::chrono::seconds(10));
  auto elapsed = std::chrono::steady_clock::now() - start;
  server.stop();
  REQUIRE(err);
  CHECK_THROWS_WITH(std::rethrow_exception(err), Catch::Contains("no ServerHello within 300 ms"));
  CHECK(elapsed < std::chrono::seconds(5));
}
