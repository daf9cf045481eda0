// A libsignal-protocol-c call failed. The kind tells the receiver what to do (e2e reference §8.3):
// duplicate → skip quietly (still receipt), no_pre_key / no_session / invalid_mac / invalid_message
// → retry receipt, invalid_key (bad bundle signature) → drop that device.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace wa::signal {

enum class SignalErrorKind {
  duplicate,           // SG_ERR_DUPLICATE_MESSAGE: this counter was already decrypted
  no_pre_key,          // SG_ERR_INVALID_KEY_ID: the pkmsg names a (signed) pre-key we do not have
  no_session,          // SG_ERR_NO_SESSION: msg/skmsg without a session or sender key
  invalid_mac,         // SG_ERR_INVALID_MAC
  invalid_message,     // malformed or unsupported ciphertext (protobuf, version, legacy, too large)
  invalid_key,         // a key or signature does not verify (e.g. a bundle's signed pre-key)
  untrusted_identity,  // SG_ERR_UNTRUSTED_IDENTITY (our identity store trusts all; kept for completeness)
  other,
};

class SignalError : public std::runtime_error {
 public:
  SignalError(std::string message, int code, SignalErrorKind kind)
      : std::runtime_error(std::move(message)), code_(code), kind_(kind) {}
  // The SG_ERR_* code (0 when the error was detected on our side).
  int code() const { return code_; }
  SignalErrorKind kind() const { return kind_; }

 private:
  int code_;
  SignalErrorKind kind_;
};

SignalErrorKind kind_of(int sg_code);
const char* to_string(SignalErrorKind kind);
// Throws SignalError("<what>: <kind> (libsignal error <code>)").
[[noreturn]] void throw_signal_error(int sg_code, std::string_view what);

}  // namespace wa::signal
