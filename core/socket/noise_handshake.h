// The Noise XX handshake of WhatsApp Web as two pure state machines (no I/O): ClientHandshake
// (initiator, our connector) and ServerHandshake (responder, wasim). They exchange unframed
// HandshakeMessage protobuf bytes; the caller adds the connection header and length prefixes.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include "core/crypto/bytes.h"
#include "core/crypto/x25519.h"
#include "core/socket/noise_state.h"
#include "core/socket/noise_transport.h"

namespace wa::proto {
class HandshakeMessage;
}

namespace wa::socket {

class HandshakeError : public std::runtime_error {
 public:
  explicit HandshakeError(const std::string& what) : std::runtime_error("noise handshake: " + what) {}
};

inline constexpr std::size_t kMaxHandshakeMessageSize = 64 * 1024;

enum class HandshakeKind { client_hello, server_hello, client_finish };

// Parses and validates one handshake message of the expected kind: size limit, exactly that
// part present, key/ciphertext lengths plausible. Throws HandshakeError.
wa::proto::HandshakeMessage parse_handshake_message(ByteView frame, HandshakeKind expected);

struct ClientHandshakeConfig {
  crypto::KeyPair noise_static;  // the device's long-term Noise key
  Bytes client_payload;          // serialized ClientPayload (login or registration)
  Key32 trusted_root{};          // root of the server certificate chain
  std::uint8_t dict_version = 3;
  // Seconds since the epoch for certificate validity; unset = the system clock.
  std::optional<std::uint64_t> now_unix;
};

class ClientHandshake {
 public:
  explicit ClientHandshake(ClientHandshakeConfig config);

  // Step 1: the ClientHello to send (after the connection header, as one frame).
  Bytes client_hello();
  // Step 2: consumes the ServerHello frame, verifies the certificate chain (CertChainError),
  // and returns the ClientFinish frame to send. HandshakeError / crypto::CryptoError otherwise.
  Bytes process_server_hello(ByteView frame);
  // Step 3: transport keys (write = initiator->responder).
  NoiseTransport transport() const;

  const Key32& server_static() const { return server_static_; }

 private:
  enum class Step { start, sent_hello, done } step_ = Step::start;
  ClientHandshakeConfig config_;
  NoiseState state_;
  crypto::KeyPair ephemeral_;
  Key32 server_static_{};
};

struct ServerHandshakeConfig {
  crypto::KeyPair static_key;  // the server's Noise static key (the leaf certificate's key)
  Bytes cert_chain;            // serialized CertChain (issue_cert_chain)
};

struct ClientFinishResult {
  Key32 client_static{};
  Bytes client_payload;  // serialized ClientPayload
};

class ServerHandshake {
 public:
  // `prologue` is the client's 4-byte connection header.
  ServerHandshake(ServerHandshakeConfig config, ByteView prologue);

  Bytes process_client_hello(ByteView frame);
  ClientFinishResult process_client_finish(ByteView frame);
  // write = responder->initiator.
  NoiseTransport transport() const;

 private:
  enum class Step { start, sent_hello, done } step_ = Step::start;
  ServerHandshakeConfig config_;
  NoiseState state_;
  crypto::KeyPair ephemeral_;
};

}  // namespace wa::socket
