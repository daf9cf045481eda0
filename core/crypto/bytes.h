// Byte-string vocabulary shared by the crypto and socket layers.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/hex.h"

namespace wa::crypto {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;
using Key32 = std::array<std::uint8_t, 32>;

inline ByteView view(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
inline Bytes to_bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }
inline Bytes to_bytes(ByteView v) { return Bytes(v.begin(), v.end()); }
inline std::string to_string(ByteView v) { return std::string(v.begin(), v.end()); }

using wa::to_hex;    // common/hex.h
using wa::from_hex;  // throws std::invalid_argument on odd length or a non-hex character
// Exactly 64 hex characters -> 32 bytes, else std::invalid_argument naming `what`.
Key32 key32_from_hex(std::string_view hex, std::string_view what = "key");
// Exactly 32 bytes, else std::invalid_argument naming `what`.
Key32 key32_from(ByteView v, std::string_view what = "key");

// Constant-time comparison (length is not secret).
bool equal_ct(ByteView a, ByteView b);

}  // namespace wa::crypto
