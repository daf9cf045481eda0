// Lowercase hex for byte strings: logs, files, test vectors and the node JSON form all use it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace wa {

std::string to_hex(std::span<const std::uint8_t> bytes);
// Upper or lower case digits. Throws std::invalid_argument on odd length or a non-hex character.
std::vector<std::uint8_t> from_hex(std::string_view hex);

}  // namespace wa
