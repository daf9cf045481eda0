// The input convention of the fuzz targets that start from a binary node: byte 0 selects the
// dictionary (bit 0x01: v2, else v3), the rest is a frame plaintext (flag byte + node). Shared so
// the seed corpora of these targets mean the same thing to each of them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "core/binary/decoder.h"

namespace wa::fuzz {

inline binary::Dict dict_from_selector(std::uint8_t selector) {
  return (selector & 0x01) != 0 ? binary::Dict::v2 : binary::Dict::v3;
}

// The node in a frame plaintext, or nullopt when the decoder refuses it. The inflate limit is
// small to keep each run fast; the limit logic is the same at any size.
inline std::optional<binary::Node> decode_plaintext(std::span<const std::uint8_t> plaintext, binary::Dict dict) {
  binary::DecodeLimits limits;
  limits.max_inflated = 1u << 20;
  try {
    return binary::decode_frame(plaintext, dict, limits);
  } catch (const binary::DecodeError&) {
    return std::nullopt;
  }
}

// The whole input read by the convention above.
inline std::optional<binary::Node> decode_node_input(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return std::nullopt;
  return decode_plaintext({data + 1, size - 1}, dict_from_selector(data[0]));
}

// The body of a node target's LLVMFuzzerTestOneInput: `check` gets every node the decoder accepts
// and aborts when one of the target's invariants breaks; inputs the decoder refuses end here.
inline int check_node_input(const std::uint8_t* data, std::size_t size, void (*check)(const binary::Node&)) {
  if (auto node = decode_node_input(data, size)) check(*node);
  return 0;  // libFuzzer reserves other values
}

}  // namespace wa::fuzz
