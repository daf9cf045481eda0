// One client connection after the WebSocket upgrade, server side: the connection header (with
// Baileys' optional ED prefix), the Noise XX handshake as responder (reference §2, mirrored),
// the ClientPayload (registration -> pair-device IQ; login of an unknown device -> failure 401),
// then encrypted binary nodes in both directions. Any malformed input closes the connection with
// one JSON log line and a counter; nothing here trusts the client's bytes.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/binary/node.h"
#include "core/binary/tokens.h"
#include "core/crypto/x25519.h"
#include "core/socket/frame_codec.h"
#include "core/socket/noise_state.h"
#include "core/socket/noise_transport.h"
#include "sim/connection_log.h"
#include "sim/device_registry.h"
#include "sim/server_identity.h"
#include "sim/ws_server.h"

namespace wa::sim {

struct SessionContext {
  const ServerIdentity* identity = nullptr;
  DeviceRegistry* devices = nullptr;
  ConnectionLog* log = nullptr;
  std::size_t pair_refs = 6;  // as the real server sends (whatsmeow's QR timing assumes 6)
  // From the upgrade to the ClientFinish; clients give up after 20 s themselves.
  std::chrono::milliseconds handshake_timeout{20000};
};

class WaSession : public WsSession {
 public:
  WaSession(SessionContext ctx, WsLink& link);
  void on_binary(std::string_view message) override;
  void on_closed() override;

  enum class Stage { client_hello, client_finish, live, done };

 private:
  void on_frame(const wa::crypto::Bytes& frame);
  void on_client_hello(const wa::crypto::Bytes& frame);
  void on_client_finish(const wa::crypto::Bytes& frame);
  void on_payload(const wa::crypto::Bytes& payload);
  void on_node_frame(const wa::crypto::Bytes& frame);
  void send_frame(wa::crypto::ByteView payload);
  void send_node(const wa::binary::Node& node);
  // Malformed input: count it, log it (no payload bytes), close.
  void reject(const std::string& kind, const std::string& reason, std::uint16_t ws_code = 1002);
  // Protocol-level end after the given stanza (e.g. <failure>): flush, then a normal close.
  void finish(const std::string& reason);

  SessionContext ctx_;
  WsLink& link_;
  Stage stage_ = Stage::client_hello;
  wa::socket::FrameReader reader_{true};
  wa::binary::Dict dict_ = wa::binary::Dict::v3;
  wa::socket::NoiseState noise_;
  wa::crypto::KeyPair ephemeral_;
  std::optional<wa::socket::NoiseTransport> transport_;
  wa::crypto::Key32 client_static_{};
  std::string pair_iq_id_;
  std::vector<std::string> pair_refs_;
};

}  // namespace wa::sim
