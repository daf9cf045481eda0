// UTF-8 checks for message text: PostgreSQL's text type refuses invalid UTF-8 and NUL, and the
// JSON we print must be valid, so text from the wire is checked (outbox) or repaired (inbox).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace wa::store {

// Code points of `s` when it is valid UTF-8 (no overlong forms, no surrogates, <= U+10FFFF).
std::optional<std::size_t> utf8_length(std::string_view s);

// `s` with every invalid sequence (one replacement per maximal invalid prefix byte) and every NUL
// replaced by U+FFFD.
std::string repair_utf8(std::string_view s);

}  // namespace wa::store
