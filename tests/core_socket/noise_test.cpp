// A full in-memory XX handshake: the client state machine against the server state machine,
// then transport frames both ways; plus the symmetric state on its own.
#include <catch2/catch.hpp>

#include "core/crypto/aes.h"
#include "core/crypto/crypto_error.h"
#include "core/crypto/digest.h"
#include "core/crypto/random.h"
#include "core/socket/cert_chain.h"
#include "core/socket/frame_codec.h"
#include "core/socket/noise_handshake.h"
#include "wa_handshake.pb.h"

using namespace wa::socket;
using wa::crypto::KeyPair;
using wa::crypto::to_hex;

namespace {
constexpr std::uint64_t kNow = 1'800'000'000;

struct Pair {
  KeyPair root = KeyPair::generate();
  KeyPair server_static = KeyPair::generate();
  KeyPair client_static = KeyPair::generate();
  Bytes payload = wa::crypto::random_bytes(200);

  ClientHandshake client(std::optional<wa::crypto::Key32> root_override = std::nullopt) {
    return ClientHandshake({client_static, payload, root_override.value_or(root.pub), 3, kNow});
  }
  ServerHandshake server(Bytes chain) {
    return ServerHandshake({server_static, std::move(chain)}, connection_header(3));
  }
  Bytes chain() {
    CertIssueOptions o;
    o.not_before = kNow - 100;
    o.not_after = kNow + 100;
    return issue_cert_chain(root, server_static.pub, o);
  }
};
}  // namespace

TEST_CASE("noise symmetric state follows the reference", "[noise]") {
  NoiseState s;
  CHECK(to_hex(s.hash()) == to_hex(wa::crypto::view(std::string_view(kNoisePattern, 32))));
  CHECK(to_hex(noise_nonce(0x01020304)) == "000000000000000001020304");
  // MixHash is SHA256(h || d).
  auto h0 = s.hash();
  s.mix_hash(wa::crypto::view("WA\x06\x03"));
  CHECK(s.hash() == wa::crypto::sha256(h0, wa::crypto::view("WA\x06\x03")));
  // After MixKey, encrypt uses nonce 0 and AD = h, then nonce 1.
  Bytes ikm(32, 9);
  s.mix_key(ikm);
  Bytes okm = wa::crypto::hkdf_sha256(ikm, wa::crypto::view(std::string_view(kNoisePattern, 32)), {}, 64);
  auto h1 = s.hash();
  Bytes ct = s.encrypt(wa::crypto::view("x"));
  CHECK(ct == wa::crypto::aes256_gcm_seal(ByteView(okm).subspan(32), noise_nonce(0), h1, wa::crypto::view("x")));
  CHECK(s.counter() == 1);
  CHECK(s.hash() == wa::crypto::sha256(h1, ct));
  s.mix_key(ikm);
  CHECK(s.counter() == 0);
}

TEST_CASE("full XX handshake and transport frames both ways", "[noise]") {
  Pair p;
  ClientHandshake client = p.client();
  ServerHandshake server = p.server(p.chain());
  Bytes hello = client.client_hello();
  CHECK(hello.size() == 36);  // 12 22 0a 20 <32>: the reference's 0x24-byte ClientHello
  CHECK(to_hex(ByteView(hello).first(4)) == "12220a20");
  Bytes server_hello = server.process_client_hello(hello);
  Bytes finish = client.process_server_hello(server_hello);
  CHECK(client.server_static() == p.server_static.pub);
  ClientFinishResult r = server.process_client_finish(finish);
  CHECK(r.client_static == p.client_static.pub);
  CHECK(r.client_payload == p.payload);

  NoiseTransport ct = client.transport();
  NoiseTransport st = server.transport();
  for (int i = 0; i < 3; ++i) {
    Bytes up = wa::crypto::random_bytes(10 + i);
    CHECK(st.decrypt(ct.encrypt(up)) == up);
    Bytes down = wa::crypto::random_bytes(20 + i);
    CHECK(ct.decrypt(st.encrypt(down)) == down);
  }
  CHECK(ct.write_counter() == 3);
  CHECK(st.read_counter() == 3);
  // A frame that fails still advances the read counter; the next good one decrypts.
  Bytes bad = st.encrypt(wa::crypto::view("lost"));
  bad[0] ^= 1;
  CHECK_THROWS_AS(ct.decrypt(bad), wa::crypto::CryptoError);
  CHECK(ct.decrypt(st.encrypt(wa::crypto::view("next"))) == wa::crypto::to_bytes(std::string_view("next")));
  // Direction keys differ: a client frame does not decrypt as a server frame.
  NoiseTransport ct2 = client.transport();
  CHECK_THROWS_AS(ct2.decrypt(ct2.encrypt(wa::crypto::view("x"))), wa::crypto::CryptoError);
}

TEST_CASE("handshake rejects a wrong root, tampering and malformed messages", "[noise]") {
  Pair p;
  SECTION("wrong trusted root") {
    ClientHandshake client = p.client(KeyPair::generate().pub);
    ServerHandshake server = p.server(p.chain());
    Bytes sh = server.process_client_hello(client.client_hello());
    CHECK_THROWS_WITH(client.process_server_hello(sh), Catch::Contains("not signed by the trusted root"));
  }
  SECTION("prologue mismatch breaks decryption") {
    ClientHandshake client = p.client();
    ServerHandshake server({p.server_static, p.chain()}, connection_header(2));
    Bytes sh = server.process_client_hello(client.client_hello());
    CHECK_THROWS_AS(client.process_server_hello(sh), wa::crypto::CryptoError);
  }
  SECTION("malformed messages") {
    ClientHandshake client = p.client();
    client.client_hello();
    CHECK_THROWS_AS(client.process_server_hello(Bytes{0xff, 0xff}), HandshakeError);
    ServerHandshake server = p.server(p.chain());
    wa::proto::HandshakeMessage m;
    m.mutable_client_hello()->set_ephemeral(std::string(31, 'x'));
    CHECK_THROWS_WITH(server.process_client_hello(wa::crypto::to_bytes(m.SerializeAsString())),
                      Catch::Contains("not 32 bytes"));
    CHECK_THROWS_AS(parse_handshake_message(Bytes(kMaxHandshakeMessageSize + 1), HandshakeKind::client_hello),
                    HandshakeError);
  }
  SECTION("out of order") {
    ClientHandshake client = p.client();
    CHECK_THROWS_AS(client.transport(), HandshakeError);
    CHECK_THROWS_AS(client.process_server_hello(Bytes{}), HandshakeError);
  }
}
