// Bytes -> Node (reference §5), or to views of one buffer (DecodedFrame). Every input is untrusted: sizes are checked against the bytes
// that are left before anything is allocated, and nesting depth, item count, input size and
// inflated size are capped. Malformed input throws DecodeError naming the offset and what was
// expected there.
#pragma once

#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>

#include "core/binary/node.h"
#include "core/binary/node_view.h"
#include "core/binary/tokens.h"

namespace wa::binary {

class DecodeError : public std::runtime_error {
 public:
  DecodeError(std::size_t offset, const std::string& what);
  // Offset in the node bytes (after the flag byte and after inflating).
  std::size_t offset() const { return offset_; }

 private:
  std::size_t offset_;
};

struct DecodeLimits {
  std::size_t max_depth = 64;              // nested node levels
  std::size_t max_items = 200'000;         // nodes + attributes in one frame
  std::size_t max_input = 16u << 20;       // node bytes (a transport frame is at most 16 MiB)
  std::size_t max_inflated = 16u << 20;    // output cap for zlib-compressed frames
};

// One node that must use every byte of `data` (no flag byte).
Node decode_node(std::span<const std::uint8_t> data, Dict dict, const DecodeLimits& limits = {});
// A frame plaintext: flag byte, then the node (inflated first when flag & 0x02).
Node decode_frame(std::span<const std::uint8_t> frame, Dict dict, const DecodeLimits& limits = {});

// The fast path: the same checks and errors, but the result views into the frame's bytes
// (see node_view.h) instead of copying every tag, attribute and payload. The Bytes&& form takes
// the plaintext over without a copy.
DecodedFrame decode_frame_view(std::span<const std::uint8_t> frame, Dict dict, const DecodeLimits& limits = {});
DecodedFrame decode_frame_view(Bytes&& frame, Dict dict, const DecodeLimits& limits = {});

}  // namespace wa::binary
