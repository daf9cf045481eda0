// WaSession fed hostile bytes directly (no sockets): random streams, random frames after a valid
// header, and bit-flipped handshakes. Every input must end in a clean close (or a wait for more
// bytes), never a crash; run under ASan+UBSan this is a small deterministic fuzzer.
#include <catch2/catch.hpp>

#include <random>

#include "common/log.h"
#include "core/binary/encoder.h"
#include "core/socket/frame_codec.h"
#include "core/socket/noise_state.h"
#include "core/socket/noise_transport.h"
#include "sim/wa_session.h"
#include "tests/sim/harness.h"
#include "wa_handshake.pb.h"

using wa::crypto::Bytes;

namespace {

class FakeLink : public wa::sim::WsLink {
 public:
  std::uint64_t id() const override { return 1; }
  void send_binary(std::string bytes) override { sent.push_back(std::move(bytes)); }
  void close(std::uint16_t code, const std::string& reason, const std::string& kind) override {
    if (closed) return;
    closed = true;
    close_code = code;
    close_reason = reason;
    close_kind = kind;
  }
  void set_deadline(std::chrono::milliseconds, const std::string&) override {}
  std::vector<std::string> sent;
  bool closed = false;
  std::uint16_t close_code = 0;
  std::string close_reason, close_kind;
};

struct Env {
  // Thousands of sessions: keep the per-connection info lines out of the test output.
  Env() { wa::log::set_level(wa::log::Level::warn); }
  ~Env() { wa::log::set_level(wa::log::Level::info); }
  wa::simtest::TempDir dir;
  wa::sim::ServerIdentity identity = wa::sim::ServerIdentity::create(dir.path() / "state");
  wa::sim::DeviceRegistry devices{dir.path() / "state"};
  wa::sim::ConnectionLog log;
  wa::sim::SessionContext ctx() { return {&identity, &devices, &log}; }
};

std::string_view sv(const Bytes& b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

Bytes random_bytes(std::mt19937& rng, std::size_t n) {
  Bytes b(n);
  for (auto& x : b) x = static_cast<std::uint8_t>(rng());
  return b;
}

Bytes valid_client_hello(std::uint8_t dict) {
  auto eph = wa::crypto::KeyPair::generate();
  wa::proto::HandshakeMessage m;
  m.mutable_client_hello()->set_ephemeral(eph.pub.data(), eph.pub.size());
  Bytes out = wa::socket::connection_header(dict);
  wa::socket::append_frame(out, wa::crypto::view(m.SerializeAsString()));
  return out;
}

}  // namespace

TEST_CASE("random byte streams never crash the session", "[sim][robustness]") {
  Env env;
  std::mt19937 rng(20261124);
  int closed = 0;
  for (int i = 0; i < 500; ++i) {
    FakeLink link;
    wa::sim::WaSession s(env.ctx(), link);
    for (int chunk = 0; chunk < 4 && !link.closed; ++chunk) s.on_binary(sv(random_bytes(rng, rng() % 300)));
    if (link.closed) {
      ++closed;
      CHECK_FALSE(link.close_kind.empty());
    }
  }
  CHECK(closed > 400);  // almost every random stream has a bad header within the first bytes
}

TEST_CASE("random frames after a valid header close the connection as handshake errors", "[sim][robustness]") {
  Env env;
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    FakeLink link;
    wa::sim::WaSession s(env.ctx(), link);
    Bytes msg = wa::socket::connection_header(3);
    wa::socket::append_frame(msg, random_bytes(rng, 1 + rng() % 200));
    s.on_binary(sv(msg));
    INFO("iteration " << i);
    REQUIRE(link.closed);
    CHECK((link.close_kind == "handshake"));
    CHECK(link.sent.empty());
  }
}

TEST_CASE("bit-flipped ClientHellos and ClientFinishes never crash the session", "[sim][robustness]") {
  Env env;
  std::mt19937 rng(99);
  for (int i = 0; i < 300; ++i) {
    FakeLink link;
    wa::sim::WaSession s(env.ctx(), link);
    Bytes hello = valid_client_hello(i % 2 ? 2 : 3);
    // Flip a bit past the 4-byte header and 3-byte length, i.e. inside the protobuf.
    if (i % 3 != 0) hello[7 + rng() % (hello.size() - 7)] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
    s.on_binary(sv(hello));
    if (link.closed) continue;
    REQUIRE(link.sent.size() == 1);  // the ServerHello
    // A ClientFinish whose ciphertexts were made by no one: must fail to decrypt and close.
    wa::proto::HandshakeMessage fin;
    auto junk_static = random_bytes(rng, 48), junk_payload = random_bytes(rng, rng() % 100);
    fin.mutable_client_finish()->set_static_(junk_static.data(), junk_static.size());
    fin.mutable_client_finish()->set_payload(junk_payload.data(), junk_payload.size());
    s.on_binary(sv(wa::socket::encode_frame(wa::crypto::view(fin.SerializeAsString()))));
    REQUIRE(link.closed);
    CHECK(link.close_kind == "handshake");
  }
}

namespace {

// Drives a FakeLink session through a real registration handshake, in process; returns the
// client's transport (keys from the split) and leaves the pair-device IQ in link.sent.
wa::socket::NoiseTransport handshake_in_process(wa::sim::WaSession& s, FakeLink& link, std::uint8_t dict) {
  wa::socket::NoiseState ns;
  auto header = wa::socket::connection_header(dict);
  ns.mix_hash(header);
  auto eph = wa::crypto::KeyPair::generate();
  ns.mix_hash(eph.pub);
  wa::proto::HandshakeMessage hello;
  hello.mutable_client_hello()->set_ephemeral(eph.pub.data(), eph.pub.size());
  Bytes first = header;
  wa::socket::append_frame(first, wa::crypto::view(hello.SerializeAsString()));
  s.on_binary(sv(first));
  REQUIRE(link.sent.size() == 1);
  wa::socket::FrameReader r(false);
  r.feed(wa::crypto::view(link.sent[0]));
  auto frame = r.next_frame();
  REQUIRE(frame);
  wa::proto::HandshakeMessage resp;
  REQUIRE(resp.ParseFromArray(frame->data(), static_cast<int>(frame->size())));
  const auto& sh = resp.server_hello();
  auto server_eph = wa::crypto::key32_from(wa::crypto::view(sh.ephemeral()));
  ns.mix_hash(server_eph);
  ns.mix_key(wa::crypto::x25519(eph.priv, server_eph));
  auto server_static = wa::crypto::key32_from(ns.decrypt(wa::crypto::view(sh.static_())));
  ns.mix_key(wa::crypto::x25519(eph.priv, server_static));
  ns.decrypt(wa::crypto::view(sh.payload()));
  auto noise = wa::crypto::KeyPair::generate();
  auto enc_static = ns.encrypt(noise.pub);
  ns.mix_key(wa::crypto::x25519(noise.priv, server_eph));
  auto enc_payload = ns.encrypt(wa::simtest::registration_payload());
  wa::proto::HandshakeMessage fin;
  fin.mutable_client_finish()->set_static_(enc_static.data(), enc_static.size());
  fin.mutable_client_finish()->set_payload(enc_payload.data(), enc_payload.size());
  s.on_binary(sv(wa::socket::encode_frame(wa::crypto::view(fin.SerializeAsString()))));
  REQUIRE_FALSE(link.closed);
  REQUIRE(link.sent.size() == 2);  // + the pair-device IQ
  auto [c2s, s2c] = ns.split();
  return wa::socket::NoiseTransport(c2s, s2c);
}

}  // namespace

TEST_CASE("random node bytes in valid transport frames never crash the session", "[sim][robustness]") {
  Env env;
  std::mt19937 rng(4242);
  int node_errors = 0;
  for (int i = 0; i < 200; ++i) {
    FakeLink link;
    wa::sim::WaSession s(env.ctx(), link);
    auto t = handshake_in_process(s, link, i % 2 ? 2 : 3);
    for (int f = 0; f < 5 && !link.closed; ++f) {
      Bytes plain = random_bytes(rng, 1 + rng() % 64);
      if (rng() % 2) plain[0] = 0;  // uncompressed flag, so the decoder sees the rest
      s.on_binary(sv(wa::socket::encode_frame(t.encrypt(plain))));
    }
    if (link.closed) {
      CHECK(link.close_kind == "node");
      ++node_errors;
    }
  }
  CHECK(node_errors > 100);

  // A frame the server cannot decrypt ends the connection as a frame error.
  FakeLink link;
  wa::sim::WaSession s(env.ctx(), link);
  handshake_in_process(s, link, 3);
  s.on_binary(sv(wa::socket::encode_frame(random_bytes(rng, 40))));
  CHECK(link.closed);
  CHECK(link.close_kind == "frame");
}
