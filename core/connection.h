// The WhatsApp connection of one account, as the HA supervisor sees it. The supervisor starts it
// when this pod wins the account's lock and stops it when the pod fences, resigns or shuts down.
// core/ knows nothing of PostgreSQL or Kubernetes: whatever the connection needs from the shared
// store reaches it through interfaces the caller implements.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/error.h"

namespace wa::core {

enum class ConnectionState {
  stopped,     // not started, or stopped by the supervisor
  connecting,  // socket/handshake/login in progress (also while reconnecting with backoff)
  pairing,     // waiting for the phone to scan a QR / enter a pair code
  logged_in,   // <success> received; the session is live
  failed,      // gave up (logged out, replaced, banned, ...): see the disconnect reason
};

constexpr const char* to_string(ConnectionState s) {
  switch (s) {
    case ConnectionState::stopped: return "stopped";
    case ConnectionState::connecting: return "connecting";
    case ConnectionState::pairing: return "pairing";
    case ConnectionState::logged_in: return "logged_in";
    case ConnectionState::failed: return "failed";
  }
  return "unknown";
}

// Why a connection ended, with the account-registry vocabulary (wa_accounts.disconnect_reason).
enum class DisconnectReason {
  user_initiated,
  instance_restart,
  timeout,
  error,
  qr_expired,
  replaced,
  logged_out,
  lock_lost,
  unknown,
};

// Every reason, in declaration order. The same words are store/accounts.h's kDisconnectReasons
// and the wa_accounts.disconnect_reason CHECK of store/migrations/0001; tests/core_client
// (disconnect_words_test) fails when the three differ.
inline constexpr DisconnectReason kAllDisconnectReasons[] = {
    DisconnectReason::user_initiated, DisconnectReason::instance_restart, DisconnectReason::timeout,
    DisconnectReason::error,          DisconnectReason::qr_expired,       DisconnectReason::replaced,
    DisconnectReason::logged_out,     DisconnectReason::lock_lost,        DisconnectReason::unknown,
};

constexpr const char* to_string(DisconnectReason r) {
  switch (r) {
    case DisconnectReason::user_initiated: return "user_initiated";
    case DisconnectReason::instance_restart: return "instance_restart";
    case DisconnectReason::timeout: return "timeout";
    case DisconnectReason::error: return "error";
    case DisconnectReason::qr_expired: return "qr_expired";
    case DisconnectReason::replaced: return "replaced";
    case DisconnectReason::logged_out: return "logged_out";
    case DisconnectReason::lock_lost: return "lock_lost";
    case DisconnectReason::unknown: return "unknown";
  }
  return "unknown";
}

struct ConnectionEvents {
  std::function<void(ConnectionState)> on_state;
  std::function<void(DisconnectReason, const std::string& details)> on_disconnect;
};

// The lease a connection runs under, as core/ sees it. The HA layer implements it (lease epoch,
// deadline, local revoke); core/ only asks whether it may still talk to WhatsApp. fresh() is
// cheap, thread-safe and never blocks: the client checks it under its send lock before every
// frame, so a pod that lost its lock (or was paused past its deadline) sends nothing more.
class Lease {
 public:
  virtual ~Lease() = default;
  virtual bool fresh() const = 0;
};

// request_pair_code() failed: not connected for pairing, bad phone number, server error, timeout,
// or the connection does not support phone-number pairing.
using PairCodeError = wa::Error<struct PairCodeErrorTag>;

class Connection {
 public:
  virtual ~Connection() = default;
  // Begins connecting in the background and returns at once.
  virtual void start() = 0;
  // Closes the socket at once and returns only when no more bytes will be sent to WhatsApp and
  // no more store writes will be issued by this connection. Used for fencing: must not block on
  // the network or the database. Idempotent.
  virtual void stop(DisconnectReason why) = 0;
  virtual ConnectionState state() const = 0;
  // Messages were queued for this account (outbox NOTIFY or a periodic sweep): claim and send them
  // now. Returns at once; a connection that sends no messages ignores it.
  virtual void outbox_ready() {}
  // Phone-number pairing: while pairing, asks the server for the 8-character code the user types
  // on the phone (`phone`: digits, '+' and separators allowed). Blocks up to `timeout`; throws
  // PairCodeError. Must not be called from a ConnectionEvents callback.
  virtual std::string request_pair_code(const std::string& /*phone*/, bool /*show_push_notification*/,
                                        std::chrono::milliseconds /*timeout*/) {
    throw PairCodeError("this connection does not support phone-number pairing");
  }
  // Log out (the API's DELETE .../session): asks the server to remove this companion device.
  // The server then ends the stream (401 device_removed) and the connection gives up as
  // logged_out, which makes its credentials unusable. Blocks up to `timeout` for the server's
  // answer; throws std::runtime_error when it was not accepted. Not from a ConnectionEvents callback.
  virtual void logout(std::chrono::milliseconds /*timeout*/) {
    throw std::runtime_error("this connection cannot log out");
  }
};

// Creates the connection for one account. `business_id` and `jid` identify it (jid empty before
// pairing). `lease` gates every frame the connection sends (null: no gate, for tools and tests
// that run a client outside the HA layer).
class ConnectionFactory {
 public:
  virtual ~ConnectionFactory() = default;
  virtual std::unique_ptr<Connection> create(const std::string& business_id, const std::string& jid,
                                             ConnectionEvents events, std::shared_ptr<const Lease> lease) = 0;
};

}  // namespace wa::core
