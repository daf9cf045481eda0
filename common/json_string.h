// JSON string literals, written once for every JSON this project emits (log lines, HTTP
// bodies, wasim's admin API, the node JSON form).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace wa {

// Length of the valid UTF-8 sequence at s[i], or 0 if it is not one (overlongs, surrogates and
// truncated sequences included).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i);

// Appends `s` as a JSON string literal (with quotes), escaping as RFC 8259 requires. Bytes that
// are not valid UTF-8 become U+FFFD (as Node.js's Buffer.toString does), so the output is always
// valid JSON text.
void append_json_string(std::string& out, std::string_view s);

// The character a JSON two-character escape stands for (\" \\ \/ \b \f \n \r \t), given the
// letter after the backslash; '\0' when the letter is not one of them (\u is not).
char json_unescape_letter(char letter);

// {"error":"<message>"}: the body of every JSON error answer (HTTP API, wasim's admin API).
std::string json_error_body(std::string_view message);

}  // namespace wa
