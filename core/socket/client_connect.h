// The client's entry to a WhatsApp Web server: open the WebSocket, run the Noise XX handshake
// (verifying the server's certificate chain against `trusted_root`), and hand back a FrameSocket
// that sends and receives binary-node payloads (flag byte included), encrypted.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "core/crypto/x25519.h"
#include "core/socket/frame_socket.h"
#include "core/socket/ws_url.h"

namespace wa::socket {

struct ClientConnectOptions {
  std::string url = kWaProductionUrl;
  crypto::Key32 trusted_root{};  // wa_production_root_key() for the real service
  crypto::KeyPair noise_key;     // the device's Noise static key
  Bytes client_payload;          // serialized ClientPayload
  std::uint8_t dict_version = kDictVersion;
  // From the moment the ClientHello is sent until the ServerHello arrives (whatsmeow: 20 s).
  std::chrono::milliseconds handshake_timeout{20000};
  WebSocketClientOptions websocket;
};

// `done(nullptr, socket)` once the ClientFinish is on its way and the transport keys are in
// place; `done(error, nullptr)` otherwise, the error being std::system_error (network),
// UpgradeError, HandshakeError, CertChainError or crypto::CryptoError. Returns the socket being
// connected, so the caller can abort() it mid-handshake (fencing); `done` then reports an error.
// `options.websocket.send_gate`, if set, also gates the handshake's own frames.
using ClientConnectHandler = std::function<void(std::exception_ptr, std::shared_ptr<FrameSocket>)>;
std::shared_ptr<FrameSocket> connect_and_handshake(asio::io_context& io, ClientConnectOptions options,
                                                   ClientConnectHandler done);
// The same on a given strand: the socket's handlers (and `done`'s caller) run on it, so an owner
// that keeps its state on the same strand needs no lock against them.
std::shared_ptr<FrameSocket> connect_and_handshake(Strand strand, ClientConnectOptions options,
                                                   ClientConnectHandler done);

}  // namespace wa::socket
