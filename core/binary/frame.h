// The flag byte in front of every node in a transport frame (reference §5.1): bit 0x02 means
// the rest is zlib (RFC 1950). Inflating is capped so a small frame can't expand without bound.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/binary/node.h"

namespace wa::binary {

inline constexpr std::uint8_t kFlagCompressed = 0x02;

// Node bytes of a frame plaintext: without the flag byte, inflated when compressed.
// Throws DecodeError (empty frame, corrupt zlib, output over `max_inflated`, trailing data).
Bytes unpack_frame(std::span<const std::uint8_t> frame, std::size_t max_inflated);
// Flag 0x02 + zlib of `node_bytes` (for tests and for peers that compress).
Bytes compress_frame(std::span<const std::uint8_t> node_bytes);

}  // namespace wa::binary
