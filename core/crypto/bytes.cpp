#include "core/crypto/bytes.h"

#include <stdexcept>

#include <openssl/crypto.h>

namespace wa::crypto {

std::string to_hex(ByteView v) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(v.size() * 2);
  for (std::uint8_t b : v) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 0x0f]);
  }
  return out;
}

namespace {
int nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

Bytes from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) throw std::invalid_argument("hex string has odd length");
  Bytes out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = nibble(hex[2 * i]);
    int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      throw std::invalid_argument("non-hex character at offset " + std::to_string(hi < 0 ? 2 * i : 2 * i + 1));
    }
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return out;
}

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
