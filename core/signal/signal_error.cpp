#include "core/signal/signal_error.h"

#include <signal_protocol.h>

namespace wa::signal {

SignalErrorKind kind_of(int code) {
  switch (code) {
    case SG_ERR_DUPLICATE_MESSAGE: return SignalErrorKind::duplicate;
    case SG_ERR_INVALID_KEY_ID: return SignalErrorKind::no_pre_key;
    case SG_ERR_NO_SESSION: return SignalErrorKind::no_session;
    case SG_ERR_INVALID_MAC: return SignalErrorKind::invalid_mac;
    case SG_ERR_INVALID_MESSAGE:
    case SG_ERR_INVALID_VERSION:
    case SG_ERR_LEGACY_MESSAGE:
    case SG_ERR_INVALID_PROTO_BUF: return SignalErrorKind::invalid_message;
    case SG_ERR_INVALID_KEY:
    case SG_ERR_VRF_SIG_VERIF_FAILED:
    case SG_ERR_STALE_KEY_EXCHANGE: return SignalErrorKind::invalid_key;
    case SG_ERR_UNTRUSTED_IDENTITY: return SignalErrorKind::untrusted_identity;
    default: return SignalErrorKind::other;
  }
}

const char* to_string(SignalErrorKind kind) {
  switch (kind) {
    case SignalErrorKind::duplicate: return "duplicate message";
    case SignalErrorKind::no_pre_key: return "unknown pre-key id";
    case SignalErrorKind::no_session: return "no session";
    case SignalErrorKind::invalid_mac: return "invalid MAC";
    case SignalErrorKind::invalid_message: return "invalid message";
    case SignalErrorKind::invalid_key: return "invalid key";
    case SignalErrorKind::untrusted_identity: return "untrusted identity";
    case SignalErrorKind::other: return "error";
  }
  return "error";
}

void throw_signal_error(int code, std::string_view what) {
  auto kind = kind_of(code);
  throw SignalError(
      std::string(what) + ": " + to_string(kind) + " (libsignal error " + std::to_string(code) + ")", code,
      kind);
}

}  // namespace wa::signal
