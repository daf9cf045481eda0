#include "core/socket/noise_state.h"

#include <algorithm>
#include <limits>

#include <openssl/crypto.h>

#include "core/crypto/aes.h"
#include "core/crypto/crypto_error.h"
#include "core/crypto/digest.h"

namespace wa::socket {

static_assert(sizeof(kNoisePattern) - 1 == 32, "pattern must be exactly 32 bytes");

std::array<std::uint8_t, 12> noise_nonce(std::uint32_t counter) {
  std::array<std::uint8_t, 12> nonce{};
  nonce[8] = static_cast<std::uint8_t>(counter >> 24);
  nonce[9] = static_cast<std::uint8_t>(counter >> 16);
  nonce[10] = static_cast<std::uint8_t>(counter >> 8);
  nonce[11] = static_cast<std::uint8_t>(counter);
  return nonce;
}

NoiseState::NoiseState() {
  std::copy(kNoisePattern, kNoisePattern + 32, h_.begin());
  ck_ = h_;
  k_ = h_;
}

void NoiseState::mix_hash(ByteView data) { h_ = crypto::sha256(h_, data); }

void NoiseState::mix_key(ByteView ikm) {
  Bytes out = crypto::hkdf_sha256(ikm, ck_, {}, 64);
  std::copy(out.begin(), out.begin() + 32, ck_.begin());
  std::copy(out.begin() + 32, out.end(), k_.begin());
  OPENSSL_cleanse(out.data(), out.size());
  n_ = 0;
}

// The nonce for the next message; the counter never wraps (a reused nonce breaks AES-GCM).
static std::array<std::uint8_t, 12> take_nonce(std::uint32_t& n) {
  if (n == std::numeric_limits<std::uint32_t>::max()) throw crypto::CryptoError("noise: nonce exhausted");
  return noise_nonce(n++);
}

// Both directions bind the ciphertext into the handshake hash, as Noise's EncryptAndHash /
// DecryptAndHash do.
Bytes NoiseState::encrypt(ByteView plaintext) {
  Bytes ct = crypto::aes256_gcm_seal(k_, take_nonce(n_), h_, plaintext);
  mix_hash(ct);
  return ct;
}

Bytes NoiseState::decrypt(ByteView ciphertext) {
  Bytes pt = crypto::aes256_gcm_open(k_, take_nonce(n_), h_, ciphertext);
  mix_hash(ciphertext);
  return pt;
}

std::pair<Key32, Key32> NoiseState::split() const {
  Bytes out = crypto::hkdf_sha256({}, ck_, {}, 64);
  std::pair<Key32, Key32> keys;
  std::copy(out.begin(), out.begin() + 32, keys.first.begin());
  std::copy(out.begin() + 32, out.end(), keys.second.begin());
  OPENSSL_cleanse(out.data(), out.size());
  return keys;
}

}  // namespace wa::socket
