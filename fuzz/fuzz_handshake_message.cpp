// libFuzzer: the handshake message parser with its validation (each expected kind), the
// certificate chain verifier, and both handshake state machines fed the input as the peer's
// message. Errors must be exceptions of the documented types, never crashes.
#include <cstddef>
#include <cstdint>

#include "core/crypto/crypto_error.h"
#include "core/crypto/x25519.h"
#include "core/socket/cert_chain.h"
#include "core/socket/frame_codec.h"
#include "core/socket/noise_handshake.h"
#include "wa_handshake.pb.h"

using namespace wa::socket;

namespace {
const wa::crypto::KeyPair& fixed_key(int i) {
  static const wa::crypto::KeyPair keys[2] = {
      wa::crypto::KeyPair::from_private(wa::crypto::Key32{1, 2, 3}),
      wa::crypto::KeyPair::from_private(wa::crypto::Key32{4, 5, 6}),
  };
  return keys[i];
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ByteView in(data, size);
  for (auto kind : {HandshakeKind::client_hello, HandshakeKind::server_hello, HandshakeKind::client_finish}) {
    try {
      parse_handshake_message(in, kind);
    } catch (const HandshakeError&) {
    }
  }
  try {
    verify_cert_chain(in, fixed_key(0).pub, fixed_key(1).pub, 1'800'000'000);
  } catch (const CertChainError&) {
  } catch (const std::invalid_argument&) {
    __builtin_trap();  // key sizes are checked before conversion
  }
  try {
    ClientHandshake client({fixed_key(0), {}, fixed_key(1).pub, 3, 1'800'000'000});
    client.client_hello();
    client.process_server_hello(in);
  } catch (const HandshakeError&) {
  } catch (const CertChainError&) {
  } catch (const wa::crypto::CryptoError&) {
  }
  try {
    ServerHandshake server({fixed_key(1), {}}, connection_header());
    server.process_client_hello(in);
    server.process_client_finish(in);
  } catch (const HandshakeError&) {
  } catch (const wa::crypto::CryptoError&) {
  }
  return 0;
}
