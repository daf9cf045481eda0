// Pre-key upkeep (whatsmeow's prekeys.go): how many one-time pre-keys the server holds, read from
// the answer to the count request and from the server's "encrypt" notification alike.
#pragma once

#include <cstddef>
#include <optional>

#include "core/binary/node.h"

namespace wa::client {

inline constexpr std::size_t kMinPreKeyCount = 5;        // below this, upload more
inline constexpr std::size_t kWantedPreKeyCount = 50;    // a routine top-up
inline constexpr std::size_t kInitialPreKeyCount = 812;  // the first upload of a new device

// The value of `n`'s <count value="..."/> child: up to 8 decimal digits; nullopt if absent or not
// a number.
std::optional<std::size_t> pre_key_count_of(const binary::Node& n);

}  // namespace wa::client
