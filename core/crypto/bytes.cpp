#include "core/crypto/bytes.h"

#include <stdexcept>

#include <openssl/crypto.h>

namespace wa::crypto {

Key32 key32_from(ByteView v, std::string_view what) {
  if (v.size() != 32) {
    throw std::invalid_argument(std::string(what) + " must be 32 bytes, got " + std::to_string(v.size()));
  }
  Key32 k;
  std::copy(v.begin(), v.end(), k.begin());
  return k;
}

Key32 key32_from_hex(std::string_view hex, std::string_view what) {
  if (hex.size() != 64) {
    throw std::invalid_argument(std::string(what) + " must be 64 hex characters, got " + std::to_string(hex.size()));
  }
  return key32_from(from_hex(hex), what);
}

bool equal_ct(ByteView a, ByteView b) {
  return a.size() == b.size() && (a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0);
}

}  // namespace wa::crypto
