// WhatsApp's random padding of pkmsg/msg/skmsg plaintexts (v=2; e2e reference §4.4): n bytes each
// equal to n are appended. whatsmeow and Baileys 6 send n in 1..15 (random & 0x0F, 0 → 15), Baileys 7
// sends 1..16. We send 1..15 and accept 1..16.
#pragma once

#include <cstdint>
#include <stdexcept>

#include "common/error.h"
#include "core/crypto/bytes.h"

namespace wa::signal {

using PaddingError = wa::Error<struct PaddingErrorTag>;

inline constexpr std::uint8_t kMaxPadding = 16;

// Appends a random pad, n in 1..15.
crypto::Bytes pad(crypto::ByteView plaintext);
// Appends exactly n bytes of value n; n must be 1..16 (std::invalid_argument otherwise).
crypto::Bytes pad(crypto::ByteView plaintext, std::uint8_t n);
// The random pad length pad() uses for a random byte (exposed for tests): r & 0x0F, 0 → 15.
std::uint8_t pad_length_from_random(std::uint8_t r);

// Strips the pad. Throws PaddingError when the input is empty, the last byte is 0 or over 16 or
// over the length, or the last n bytes are not all n (whatsmeow's check).
crypto::Bytes unpad(crypto::ByteView padded);

}  // namespace wa::signal
