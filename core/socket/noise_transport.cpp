#include "core/socket/noise_transport.h"

#include <limits>

#include <openssl/crypto.h>

#include "core/crypto/aes.h"
#include "core/crypto/crypto_error.h"
#include "core/socket/noise_state.h"

namespace wa::socket {

NoiseTransport::NoiseTransport(const Key32& write_key, const Key32& read_key)
    : write_key_(write_key), read_key_(read_key) {}

NoiseTransport::~NoiseTransport() {
  OPENSSL_cleanse(write_key_.data(), write_key_.size());
  OPENSSL_cleanse(read_key_.data(), read_key_.size());
}

Bytes NoiseTransport::encrypt(ByteView plaintext) {
  if (write_n_ == std::numeric_limits<std::uint32_t>::max()) throw crypto::CryptoError("noise: write counter exhausted");
  return crypto::aes256_gcm_seal(write_key_, noise_nonce(write_n_++), {}, plaintext);
}

Bytes NoiseTransport::decrypt(ByteView ciphertext) {
  if (read_n_ == std::numeric_limits<std::uint32_t>::max()) throw crypto::CryptoError("noise: read counter exhausted");
  return crypto::aes256_gcm_open(read_key_, noise_nonce(read_n_++), {}, ciphertext);
}

}  // namespace wa::socket
