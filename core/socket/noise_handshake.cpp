#include "core/socket/noise_handshake.h"

#include <chrono>

#include "core/socket/cert_chain.h"
#include "core/socket/frame_codec.h"
#include "wa_handshake.pb.h"

namespace wa::socket {

namespace {

// 32-byte key + 16-byte tag.
constexpr std::size_t kEncryptedKeySize = 48;

const char* kind_name(HandshakeKind k) {
  switch (k) {
    case HandshakeKind::client_hello: return "ClientHello";
    case HandshakeKind::server_hello: return "ServerHello";
    case HandshakeKind::client_finish: return "ClientFinish";
  }
  return "?";
}

Key32 key_from(const std::string& s, const char* what) {
  if (s.size() != 32) throw HandshakeError(std::string(what) + " is " + std::to_string(s.size()) + " bytes, want 32");
  return crypto::key32_from(crypto::view(s), what);
}

std::string as_string(ByteView v) { return crypto::to_string(v); }

std::uint64_t system_now() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

}  // namespace

wa::proto::HandshakeMessage parse_handshake_message(ByteView frame, HandshakeKind expected) {
  if (frame.size() > kMaxHandshakeMessageSize) {
    throw HandshakeError(std::string(kind_name(expected)) + " of " + std::to_string(frame.size()) +
                         " bytes exceeds " + std::to_string(kMaxHandshakeMessageSize));
  }
  wa::proto::HandshakeMessage msg;
  if (!msg.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) {
    throw HandshakeError(std::string("expected ") + kind_name(expected) + ", got bytes that are not a HandshakeMessage");
  }
  const int parts = int(msg.has_client_hello()) + int(msg.has_server_hello()) + int(msg.has_client_finish());
  switch (expected) {
    case HandshakeKind::client_hello:
      if (!msg.has_client_hello() || parts != 1) throw HandshakeError("expected a lone ClientHello");
      if (msg.client_hello().ephemeral().size() != 32) throw HandshakeError("ClientHello ephemeral is not 32 bytes");
      break;
    case HandshakeKind::server_hello: {
      if (!msg.has_server_hello() || parts != 1) throw HandshakeError("expected a lone ServerHello");
      const auto& sh = msg.server_hello();
      if (sh.ephemeral().size() != 32) throw HandshakeError("ServerHello ephemeral is not 32 bytes");
      if (!sh.has_static_() || !sh.has_payload()) throw HandshakeError("ServerHello lacks static or payload");
      if (sh.static_().size() != kEncryptedKeySize) throw HandshakeError("ServerHello static is not 48 bytes");
      break;
    }
    case HandshakeKind::client_finish: {
      if (!msg.has_client_finish() || parts != 1) throw HandshakeError("expected a lone ClientFinish");
      const auto& cf = msg.client_finish();
      if (cf.static_().size() != kEncryptedKeySize) throw HandshakeError("ClientFinish static is not 48 bytes");
      if (!cf.has_payload()) throw HandshakeError("ClientFinish lacks payload");
      break;
    }
  }
  return msg;
}

ClientHandshake::ClientHandshake(ClientHandshakeConfig config) : config_(std::move(config)) {}

Bytes ClientHandshake::client_hello() {
  if (step_ != Step::start) throw HandshakeError("client_hello called twice");
  state_.mix_hash(connection_header(config_.dict_version));
  ephemeral_ = crypto::KeyPair::generate();
  state_.mix_hash(ephemeral_.pub);
  wa::proto::HandshakeMessage msg;
  msg.mutable_client_hello()->set_ephemeral(ephemeral_.pub.data(), ephemeral_.pub.size());
  step_ = Step::sent_hello;
  return crypto::to_bytes(msg.SerializeAsString());
}

Bytes ClientHandshake::process_server_hello(ByteView frame) {
  if (step_ != Step::sent_hello) throw HandshakeError("ServerHello out of order");
  step_ = Step::done;  // one attempt only, whatever happens
  auto msg = parse_handshake_message(frame, HandshakeKind::server_hello);
  const auto& sh = msg.server_hello();
  Key32 server_eph = key_from(sh.ephemeral(), "server ephemeral");
  state_.mix_hash(server_eph);
  state_.mix_key(crypto::x25519(ephemeral_.priv, server_eph));
  Bytes static_pt = state_.decrypt(crypto::view(sh.static_()));
  server_static_ = crypto::key32_from(static_pt, "server static key");
  state_.mix_key(crypto::x25519(ephemeral_.priv, server_static_));
  Bytes cert = state_.decrypt(crypto::view(sh.payload()));
  verify_cert_chain(cert, server_static_, config_.trusted_root, config_.now_unix.value_or(system_now()));

  Bytes enc_static = state_.encrypt(config_.noise_static.pub);
  state_.mix_key(crypto::x25519(config_.noise_static.priv, server_eph));
  Bytes enc_payload = state_.encrypt(config_.client_payload);
  wa::proto::HandshakeMessage out;
  out.mutable_client_finish()->set_static_(as_string(enc_static));
  out.mutable_client_finish()->set_payload(as_string(enc_payload));
  return crypto::to_bytes(out.SerializeAsString());
}

NoiseTransport ClientHandshake::transport() const {
  if (step_ != Step::done) throw HandshakeError("transport requested before the handshake finished");
  auto [to_server, to_client] = state_.split();
  return NoiseTransport(to_server, to_client);
}

ServerHandshake::ServerHandshake(ServerHandshakeConfig config, ByteView prologue) : config_(std::move(config)) {
  state_.mix_hash(prologue);
}

Bytes ServerHandshake::process_client_hello(ByteView frame) {
  if (step_ != Step::start) throw HandshakeError("ClientHello out of order");
  step_ = Step::sent_hello;
  auto msg = parse_handshake_message(frame, HandshakeKind::client_hello);
  Key32 client_eph = key_from(msg.client_hello().ephemeral(), "client ephemeral");
  state_.mix_hash(client_eph);
  ephemeral_ = crypto::KeyPair::generate();
  state_.mix_hash(ephemeral_.pub);
  state_.mix_key(crypto::x25519(ephemeral_.priv, client_eph));
  Bytes enc_static = state_.encrypt(config_.static_key.pub);
  state_.mix_key(crypto::x25519(config_.static_key.priv, client_eph));
  Bytes enc_payload = state_.encrypt(config_.cert_chain);
  wa::proto::HandshakeMessage out;
  auto* sh = out.mutable_server_hello();
  sh->set_ephemeral(ephemeral_.pub.data(), ephemeral_.pub.size());
  sh->set_static_(as_string(enc_static));
  sh->set_payload(as_string(enc_payload));
  return crypto::to_bytes(out.SerializeAsString());
}

ClientFinishResult ServerHandshake::process_client_finish(ByteView frame) {
  if (step_ != Step::sent_hello) throw HandshakeError("ClientFinish out of order");
  step_ = Step::done;
  auto msg = parse_handshake_message(frame, HandshakeKind::client_finish);
  ClientFinishResult r;
  Bytes static_pt = state_.decrypt(crypto::view(msg.client_finish().static_()));
  r.client_static = crypto::key32_from(static_pt, "client static key");
  state_.mix_key(crypto::x25519(ephemeral_.priv, r.client_static));
  r.client_payload = state_.decrypt(crypto::view(msg.client_finish().payload()));
  return r;
}

NoiseTransport ServerHandshake::transport() const {
  if (step_ != Step::done) throw HandshakeError("transport requested before the handshake finished");
  auto [to_server, to_client] = state_.split();
  return NoiseTransport(to_client, to_server);
}

}  // namespace wa::socket
