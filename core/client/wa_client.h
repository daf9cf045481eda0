// The WhatsApp Web client of one account: core::Connection over core/socket (WebSocket + Noise),
// binary nodes and the DeviceStore. It pairs a new device (QR or pair code), logs in from stored
// credentials, does what a real client does after <success> (pre-keys, passive off), keeps the
// connection alive, and maps stream errors and failures to reconnects or a final state.
//
// Threading: each client runs its protocol on a strand of a shared io pool (ClientOptions::io_pool,
// one per process: threads do not grow with accounts), or of a one-thread pool of its own when
// none is given (tools, tests). start(), stop(), state() and request_pair_code() may be called
// from any thread but a pool thread's handler (request_pair_code and logout wait for the strand).
// ConnectionEvents callbacks run on the client's strand and must not block for long; they may
// call stop(). Store calls run on the strand too: each holds one pool thread while it waits.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

#include "core/client/device_store.h"
#include "core/client/message_store.h"
#include "core/connection.h"
#include "core/crypto/bytes.h"
#include "core/socket/io_pool.h"
#include "core/socket/ws_url.h"

namespace wa::client {

struct ClientOptions {
  std::string url = socket::kWaProductionUrl;
  crypto::Key32 trusted_root{};  // all zeros = WhatsApp's production root (cert_chain.h)
  std::string user_agent;        // WebSocket User-Agent header; empty = none (as whatsmeow)
  std::uint8_t dict_version = 3;
  // Shown to the phone ("Chrome (Linux)") and used for the QR's platform character.
  std::string platform_display = "Chrome (Linux)";
  std::string extra_ca_file;  // for wss:// test servers
  // The process's shared io pool; null: the client runs a one-thread pool of its own.
  std::shared_ptr<socket::IoPool> io_pool;

  // Timing, whatsmeow's defaults (reference §6.2, §7.3, §7.4, §7.7); tests shorten them.
  std::chrono::milliseconds handshake_timeout{20000};
  std::chrono::milliseconds connect_timeout{20000};
  std::chrono::milliseconds qr_first_timeout{60000};
  std::chrono::milliseconds qr_next_timeout{20000};
  std::chrono::milliseconds keepalive_min{20000};
  std::chrono::milliseconds keepalive_max{30000};
  std::chrono::milliseconds keepalive_response_timeout{10000};
  // A keepalive miss forces a reconnect once the last answered ping is older than this.
  std::chrono::milliseconds keepalive_max_fail{180000};
  std::chrono::milliseconds iq_timeout{75000};
  // Reconnect backoff: initial, doubled per failure, capped; ±jitter fraction.
  std::chrono::milliseconds backoff_initial{1000};
  std::chrono::milliseconds backoff_max{60000};
  double backoff_jitter = 0.2;

  // Messaging observations for metrics; run on the client thread and must not block. Empty: none.
  // A message stored in the inbox: kind text | media | other, seconds from its server timestamp.
  std::function<void(const std::string& kind, double latency_seconds)> on_message_stored;
  // A message that could not be decrypted: reason no_session | bad_mac | invalid_message | other.
  std::function<void(const std::string& reason)> on_decrypt_failure;
  // An outbox message the server acked: kind text, seconds since the row was queued.
  std::function<void(const std::string& kind, double latency_seconds)> on_message_sent;
};

using core::PairCodeError;

class WaClient : public core::Connection {
 public:
  // `lease` (may be null) is checked before every frame sent; see core::Lease. `messages` (may be
  // null: incoming messages are acked and dropped, nothing is stored) is the account's Signal
  // state, inbox, outbox and LID map.
  WaClient(std::string business_id, ClientOptions options, std::unique_ptr<DeviceStore> store,
           core::ConnectionEvents events, std::shared_ptr<const core::Lease> lease = nullptr,
           std::unique_ptr<MessageStore> messages = nullptr);
  // Stops (user_initiated). A handler of the client running on a pool thread finishes there;
  // nothing of the client runs after it (a private pool's thread is joined).
  ~WaClient() override;
  WaClient(const WaClient&) = delete;
  WaClient& operator=(const WaClient&) = delete;

  void start() override;
  // Closes the socket at once, cancels timers; after it returns no byte is sent and no store
  // write is started by this client (a write already running is fenced by the store itself).
  // Never blocks on the network or the database. Idempotent; a stopped client cannot restart.
  void stop(core::DisconnectReason why) override;
  core::ConnectionState state() const override;
  // Posts an outbox claim to the client's thread (core::Connection::outbox_ready).
  void outbox_ready() override;

  // Phone-number pairing (reference §6.6): while pairing, sends companion_hello for `phone`
  // (digits, '+' and separators allowed) and returns the 8-character code the user types on the
  // phone (shown as XXXX-XXXX). Blocks until the server accepted the hello, at most `timeout`.
  // Throws PairCodeError. Must not be called from a ConnectionEvents callback.
  std::string request_pair_code(const std::string& phone, bool show_push_notification = true,
                                std::chrono::milliseconds timeout = std::chrono::seconds(30)) override;

  // Sends <remove-companion-device> for our own device (core::Connection::logout); needs a live
  // session. The server's stream error that follows ends the client as logged_out.
  void logout(std::chrono::milliseconds timeout) override;

  // Own device JID once paired (empty before); for logs and tests.
  std::string jid() const;

  struct Impl;

 private:
  std::shared_ptr<socket::IoPool> pool_;  // before impl_: outlives it
  std::shared_ptr<Impl> impl_;
};

// Creates a WaClient per account, each with the stores `stores(business_id)` and
// `messages(business_id)` return (`messages` empty: the clients handle no messages).
class WaClientFactory : public core::ConnectionFactory {
 public:
  WaClientFactory(ClientOptions options, DeviceStoreProvider stores, MessageStoreProvider messages = {});
  std::unique_ptr<core::Connection> create(const std::string& business_id, const std::string& jid,
                                           core::ConnectionEvents events,
                                           std::shared_ptr<const core::Lease> lease) override;

 private:
  ClientOptions options_;
  DeviceStoreProvider stores_;
  MessageStoreProvider messages_;
};

}  // namespace wa::client
