// Checking the phone's pair-success and producing our device signature (transport reference
// §6.4). Pure: bytes in, bytes out, so tests can forge a phone.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "core/crypto/bytes.h"
#include "core/crypto/x25519.h"

namespace wa::client {

// The pair-success cannot be accepted; `code`/`text` are what the pair error IQ carries
// (401 hmac-mismatch / signature-mismatch, 500 internal-error).
class PairError : public std::runtime_error {
 public:
  PairError(int code, std::string text, const std::string& what)
      : std::runtime_error(what), code_(code), text_(std::move(text)) {}
  int code() const { return code_; }
  const std::string& text() const { return text_; }

 private:
  int code_;
  std::string text_;
};

inline constexpr std::size_t kMaxDeviceIdentitySize = 16 * 1024;

struct PairedIdentity {
  crypto::Bytes account;  // ADVSignedDeviceIdentity with our device signature and the account key (stored)
  crypto::Bytes reply;    // the same without accountSignatureKey (sent in pair-device-sign)
  std::uint32_t key_index = 0;
  crypto::Key32 account_signature_key{};
};

// `device_identity` is the ADVSignedDeviceIdentityHMAC from <device-identity>. Throws PairError.
PairedIdentity verify_pair_success(crypto::ByteView device_identity, const crypto::Key32& adv_secret,
                                   const crypto::KeyPair& identity);

}  // namespace wa::client
