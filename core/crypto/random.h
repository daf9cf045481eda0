#pragma once

#include <cstddef>

#include "core/crypto/bytes.h"

namespace wa::crypto {

// Cryptographically secure random bytes (OpenSSL's DRBG). Throws CryptoError on failure.
void random_fill(std::span<std::uint8_t> out);
Bytes random_bytes(std::size_t n);

}  // namespace wa::crypto
