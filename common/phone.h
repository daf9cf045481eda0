// The one rule for a phone number given by a user, an operator or a test (pair codes, wasim's
// phones): international form, as typed. Used by core (pair codes), app (the pair-code CLI and
// HTTP request) and wasim, so all three accept and refuse the same numbers.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace wa {

inline constexpr std::size_t kMinPhoneDigits = 7;
inline constexpr std::size_t kMaxPhoneDigits = 15;  // E.164's maximum, country code included

// Digits with an optional leading '+' and the separators ' ', '-', '.', '(' and ')'; 7 to 15
// digits, the first not 0 (the country code comes first). Returns the digits alone, or nullopt
// with the reason in `*why` (when given).
std::optional<std::string> phone_digits(std::string_view text, std::string* why = nullptr);

}  // namespace wa
