// The Noise_XX_25519_AESGCM_SHA256 symmetric state as WhatsApp runs it (transport reference §2):
// h, ck, k and ONE counter n shared by encrypt and decrypt, reset by every MixKey. Role-agnostic:
// the client (initiator) and wasim (responder) both drive it.
#pragma once

#include <cstdint>
#include <utility>

#include "core/crypto/bytes.h"

namespace wa::socket {

using crypto::ByteView;
using crypto::Bytes;
using crypto::Key32;

// "Noise_XX_25519_AESGCM_SHA256" + 4 NUL bytes: exactly 32 bytes, used as h without hashing.
inline constexpr char kNoisePattern[] = "Noise_XX_25519_AESGCM_SHA256\0\0\0\0";

// 12-byte AES-GCM nonce: 8 zero bytes then the counter big-endian.
std::array<std::uint8_t, 12> noise_nonce(std::uint32_t counter);

class NoiseState {
 public:
  NoiseState();

  void mix_hash(ByteView data);
  // HKDF(salt = ck, ikm) -> 64 bytes: ck = [0,32), k = [32,64); n = 0.
  void mix_key(ByteView ikm);
  // AES-256-GCM(k, nonce(n), AD = h); n++; MixHash(ciphertext).
  Bytes encrypt(ByteView plaintext);
  // Throws crypto::CryptoError if it does not authenticate (h and n then stay unchanged).
  Bytes decrypt(ByteView ciphertext);
  // HKDF(salt = ck, empty ikm) -> (first 32, last 32) = (initiator->responder, responder->initiator).
  std::pair<Key32, Key32> split() const;

  const Key32& hash() const { return h_; }
  std::uint32_t counter() const { return n_; }

 private:
  Key32 h_;
  Key32 ck_;
  Key32 k_;
  std::uint32_t n_ = 0;
};

}  // namespace wa::socket
