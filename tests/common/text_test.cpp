// The shared text helpers: JSON strings and error bodies, hex, the phone-number rule, backoff.
#include <catch2/catch.hpp>

#include <chrono>
#include <stdexcept>
#include <string>

#include "common/backoff.h"
#include "common/hex.h"
#include "common/json_string.h"
#include "common/phone.h"
#include "common/split.h"

using namespace std::chrono_literals;

TEST_CASE("json strings stay valid JSON for any bytes", "[common]") {
  std::string out;
  wa::append_json_string(out, "\xC3\xA9\x7F\b\f");  // é, DEL, backspace, form feed
  CHECK(out == "\"\xC3\xA9\\u007f\\b\\f\"");
  out.clear();
  wa::append_json_string(out,
                         "a\xFF"
                         "b\xE2\x82");  // a stray byte and a truncated sequence
  CHECK(out ==
        "\"a\xEF\xBF\xBD"
        "b\xEF\xBF\xBD\xEF\xBF\xBD\"");
  CHECK(wa::utf8_sequence_length("\xF0\x9F\x98\x80", 0) == 4);
  CHECK(wa::utf8_sequence_length("\xC0\x80", 0) == 0);      // overlong
  CHECK(wa::utf8_sequence_length("\xED\xA0\x80", 0) == 0);  // surrogate
  CHECK(wa::json_error_body("no \"such\" thing") == R"({"error":"no \"such\" thing"})");
}

TEST_CASE("hex round trip and refusals", "[common]") {
  const std::vector<std::uint8_t> b{0x00, 0x0f, 0xa0, 0xff};
  CHECK(wa::to_hex(b) == "000fa0ff");
  CHECK(wa::from_hex("000FA0ff") == b);
  CHECK(wa::from_hex("").empty());
  CHECK_THROWS_AS(wa::from_hex("abc"), std::invalid_argument);
  CHECK_THROWS_AS(wa::from_hex("0g"), std::invalid_argument);
}

TEST_CASE("one phone-number rule: international form, 7 to 15 digits", "[common][phone]") {
  CHECK(wa::phone_digits("+1 (555) 000-1234") == "15550001234");
  CHECK(wa::phone_digits("+49.30.1234567") == "49301234567");
  CHECK(wa::phone_digits("1555000") == "1555000");
  CHECK(wa::phone_digits("123456789012345") == "123456789012345");
  std::string why;
  CHECK_FALSE(wa::phone_digits("123456", &why));  // 6 digits
  CHECK(why.find("6 digits") != std::string::npos);
  CHECK_FALSE(wa::phone_digits("1234567890123456", &why));  // 16 digits
  CHECK_FALSE(wa::phone_digits("0155500012", &why));
  CHECK(why.find("country code") != std::string::npos);
  for (const char* bad : {"", "+", "++15550001", "1+5550001", "1555O001", "1555\n0001", "abc"}) {
    CHECK_FALSE(wa::phone_digits(bad));
  }
  CHECK_FALSE(
      wa::phone_digits(std::string(40, ' ') + "15550001" + std::string(40, ' ')));  // over 64 characters
}

TEST_CASE("backoff: exact doubling without jitter, bounded with it", "[common][backoff]") {
  wa::Backoff b(1000ms, 30000ms, 0.0, 1);
  for (auto want : {1000ms, 2000ms, 4000ms, 8000ms, 16000ms, 30000ms, 30000ms}) CHECK(b.next() == want);
  for (int i = 0; i < 100; ++i) CHECK(b.next() == 30000ms);  // no overflow after many failures
  b.reset();
  CHECK(b.next() == 1000ms);
  wa::Backoff j(0ms, 0ms, 5.0, 2);  // clamped: 1 ms, jitter 1.0
  for (int i = 0; i < 20; ++i) {
    const auto d = j.next();
    CHECK(d >= 1ms);
    CHECK(d <= 2ms);
  }
}

TEST_CASE("split: fields view into the input - empty fields kept - a trailing separator only on request") {
  using V = std::vector<std::string_view>;
  CHECK(wa::split("", ',') == V{});
  CHECK(wa::split("a", ',') == V{"a"});
  CHECK(wa::split("a,,b", ',') == V{"a", "", "b"});
  CHECK(wa::split(",a", ',') == V{"", "a"});
  CHECK(wa::split("a,b,", ',') == V{"a", "b"});
  CHECK(wa::split("a,b,", ',', wa::TrailingField::keep) == V{"a", "b", ""});
  CHECK(wa::split("v1/accounts/x/", '/', wa::TrailingField::keep) == V{"v1", "accounts", "x", ""});
  const std::string s = "p q";
  CHECK(wa::split(s, ' ')[1].data() == s.data() + 2);
}
