// Node -> bytes (reference §5.3-5.6). Strings are written as a single- or double-byte token,
// else nibble-packed, else hex-packed (uppercase only), else raw; "" is byte 0 as Baileys writes
// it. JIDs by type: AD_JID for devices on s.whatsapp.net/lid and for hosted servers, FB_JID /
// INTEROP_JID for devices on msgr/interop, JID_PAIR otherwise.
#pragma once

#include "common/error.h"
#include "core/binary/node.h"
#include "core/binary/tokens.h"

namespace wa::binary {

// The node cannot be represented (device out of range, list too long, nesting too deep, ...).
using EncodeError = wa::Error<struct EncodeErrorTag>;

inline constexpr std::size_t kMaxEncodeDepth = 64;

// The frame plaintext: flag byte 0x00 (uncompressed) followed by the node.
Bytes encode(const Node& node, Dict dict);
// Appends only the node bytes (no flag byte).
void encode_node_to(const Node& node, Dict dict, Bytes& out);

}  // namespace wa::binary
