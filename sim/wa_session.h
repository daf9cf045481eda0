// One client connection after the WebSocket upgrade, server side: the connection header (with
// Baileys' optional ED prefix), the Noise XX handshake as responder (reference §2, mirrored),
// the ClientPayload (registration -> pair-device IQ; login of an unknown device -> failure 401),
// then encrypted binary nodes in both directions. Any malformed input closes the connection with
// one JSON log line and a counter; nothing here trusts the client's bytes.
#pragma once

#include <asio.hpp>

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/binary/node.h"
#include "core/binary/tokens.h"
#include "core/crypto/x25519.h"
#include "core/socket/frame_codec.h"
#include "core/socket/noise_handshake.h"
#include "core/socket/noise_transport.h"
#include "sim/addressing.h"
#include "sim/connection_log.h"
#include "sim/device_registry.h"
#include "sim/message_router.h"
#include "sim/phone_registry.h"
#include "sim/phone_side.h"
#include "sim/server_identity.h"
#include "sim/session_hub.h"
#include "sim/ws_server.h"

namespace wa::sim {

struct SessionContext {
  const ServerIdentity* identity = nullptr;
  DeviceRegistry* devices = nullptr;
  ConnectionLog* log = nullptr;
  PhoneRegistry* phones = nullptr;
  SessionHub* hub = nullptr;
  MessageRouter* router = nullptr;  // issue 8: keys, usync, messages, receipts, groups
  asio::io_context* io = nullptr;
  std::size_t pair_refs = 6;  // as the real server sends (whatsmeow's QR timing assumes 6)
  // How long each ref is live (§6.2: the first 60 s, each later one 20 s); the registration
  // connection is closed one period after the last ref expired.
  std::chrono::milliseconds qr_ttl_first{60000};
  std::chrono::milliseconds qr_ttl{20000};
  // The first stanza (pair-device, success, failure) goes out this long after the handshake:
  // Baileys 6 drops a stanza that arrives before its own ClientFinish write has completed.
  std::chrono::milliseconds first_stanza_delay{20};
  // From the upgrade to the ClientFinish; clients give up after 20 s themselves.
  std::chrono::milliseconds handshake_timeout{20000};
  // "auto" (dictionary 2 = Baileys 6 -> pn, else lid), "lid" or "pn" (sim/addressing.h).
  std::string addressing = "auto";
};

// What an admin action on a session came to: an HTTP status and a JSON body.
struct AdminOutcome {
  int status = 200;
  std::string body;
};

class WaSession : public WsSession {
 public:
  WaSession(SessionContext ctx, WsLink& link);
  ~WaSession() override;
  void on_binary(std::string_view message) override;
  void on_closed() override;

  // --- admin actions; io thread only -------------------------------------------------------
  // Whether this connection waits for pairing with `ref`; `expired` tells a ref it issued that
  // is no longer live.
  bool issued_ref(const std::string& ref, bool& expired) const;
  // The phone scanned this session's QR: check it and send pair-success (404/409/410/422 else).
  AdminOutcome link_qr(const ScannedQr& qr, const PhoneRecord& phone);
  // Whether a pair-code companion_hello for this phone arrived here (and is not finished).
  bool waits_for_code(std::uint64_t user) const;
  // The phone side of a typed linking code: the primary's notification now; `done` is set when
  // the companion_finish has been judged (pair-success sent, or why not).
  void link_code(const std::string& code, const PhoneRecord& phone, std::shared_ptr<std::promise<AdminOutcome>> done);
  // <stream:error code=C>[<conflict type=T/>]</stream:error>, then close.
  void stream_error(int code, const std::string& conflict_type, const std::string& reason);
  const std::string& jid() const { return jid_; }
  // Sends a stanza on this (logged-in) connection in its addressing mode; nothing once it is
  // closing. Routed messages and receipts are in PN form (sim/addressing.h).
  void deliver(const wa::binary::Node& node) {
    if (stage_ == Stage::live) send_node(address_for(node, addressing_));
  }
  Addressing addressing() const { return addressing_; }

  enum class Stage { client_hello, client_finish, live, done };

 private:
  void on_frame(const wa::crypto::Bytes& frame);
  void on_client_hello(const wa::crypto::Bytes& frame);
  void on_client_finish(const wa::crypto::Bytes& frame);
  void on_payload(const wa::crypto::Bytes& payload);
  void on_node_frame(const wa::crypto::Bytes& frame);
  void on_login(std::uint64_t user, std::uint32_t device);
  void send_pair_device();
  void send_pair_success(const PhoneRecord& phone, const wa::crypto::Key32& adv_secret);
  void on_pair_sign(const wa::binary::Node& iq);
  void on_link_code_iq(const wa::binary::Node& iq, const wa::binary::Node& reg);
  bool on_logged_in_iq(const wa::binary::Node& iq);
  void leave_hub();
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
  Addressing addressing_ = Addressing::lid;  // decided at login
  std::optional<wa::socket::ServerHandshake> handshake_;  // until the ClientFinish
  std::optional<wa::socket::NoiseTransport> transport_;
  wa::crypto::Key32 client_static_{};
  std::string pair_iq_id_;
  std::vector<std::string> pair_refs_;
  std::vector<std::chrono::steady_clock::time_point> ref_expiry_;
  // Registration: the companion's Signal identity from devicePairingData.
  std::optional<DeviceKeys> reg_keys_;  // from the registration payload (devicePairingData)
  // Pair code: the companion_hello, then the primary's side once the code was typed.
  struct CodeState {
    std::uint64_t user = 0;
    wa::crypto::Bytes wrapped_companion;  // 80 bytes
    std::string ref;
    std::optional<wa::crypto::KeyPair> primary_ephemeral;
    wa::crypto::Key32 companion_ephemeral{};
    std::optional<PhoneRecord> phone;
    std::shared_ptr<std::promise<AdminOutcome>> done;
  };
  std::optional<CodeState> code_;
  // Linked, waiting for pair-device-sign.
  struct Linking {
    std::string iq_id;
    PhoneRecord phone;
    std::uint32_t device = 0;
    wa::crypto::Bytes details;
  };
  std::optional<Linking> linking_;
  // Logged in (or linked): the device this connection is for.
  std::string jid_;
  std::optional<SessionHub::DeviceKey> live_;
  std::optional<asio::steady_timer> timer_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // timer callbacks check it first
};

}  // namespace wa::sim
