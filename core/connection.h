// The WhatsApp connection of one account, as the HA supervisor sees it. The supervisor starts it
// when this pod wins the account's lock and stops it when the pod fences, resigns or shuts down.
// core/ knows nothing of PostgreSQL or Kubernetes: whatever the connection needs from the shared
// store reaches it through interfaces the caller implements.
#pragma once

#include <functional>
#include <memory>
#include <string>

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
};

// Creates the connection for one account. `business_id` and `jid` identify it (jid empty before
// pairing).
class ConnectionFactory {
 public:
  virtual ~ConnectionFactory() = default;
  virtual std::unique_ptr<Connection> create(const std::string& business_id, const std::string& jid,
                                             ConnectionEvents events) = 0;
};

}  // namespace wa::core
