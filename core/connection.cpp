#include "core/connection.h"

namespace wa::core {

const char* to_string(ConnectionState s) {
  switch (s) {
    case ConnectionState::stopped: return "stopped";
    case ConnectionState::connecting: return "connecting";
    case ConnectionState::pairing: return "pairing";
    case ConnectionState::logged_in: return "logged_in";
    case ConnectionState::failed: return "failed";
  }
  return "unknown";
}

const char* to_string(DisconnectReason r) {
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

}  // namespace wa::core
