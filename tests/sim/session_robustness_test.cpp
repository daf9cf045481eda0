// WaSession fed hostile bytes directly (no sockets): random streams, random frames after a valid
// header, and bit-flipped handshakes. Every input must end in a clean close (or a wait for more
// bytes), never a crash; run under ASan+UBSan this is a small deterministic fuzzer.
#include <catch2/catch.hpp>

#include <random>

#include "core/binary/encoder.h"
#include "core/socket/frame_codec.h"
#include "core/socket/noise_state.h"
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
