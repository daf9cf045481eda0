#include "common/phone.h"

namespace wa {

namespace {
constexpr std::size_t kMaxPhoneText = 64;  // digits plus generous separators
}

std::optional<std::string> phone_digits(std::string_view text, std::string* why) {
  auto refuse = [&](std::string reason) -> std::optional<std::string> {
    if (why) *why = std::move(reason);
    return std::nullopt;
  };
  if (text.size() > kMaxPhoneText)
    return refuse("is longer than " + std::to_string(kMaxPhoneText) + " characters");
  std::string digits;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c >= '0' && c <= '9') {
      digits += c;
    } else if (c == '+' && i == 0) {
    } else if (c != ' ' && c != '-' && c != '.' && c != '(' && c != ')') {
      return refuse("may hold only digits, a leading '+', spaces, '-', '.', '(' and ')'");
    }
  }
  if (digits.size() < kMinPhoneDigits || digits.size() > kMaxPhoneDigits) {
    return refuse("has " + std::to_string(digits.size()) +
                  " digits; a phone number with its country code has " + std::to_string(kMinPhoneDigits) +
                  " to " + std::to_string(kMaxPhoneDigits));
  }
  if (digits[0] == '0') return refuse("must start with the country code (not 0)");
  return digits;
}

}  // namespace wa
