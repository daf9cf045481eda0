#include <catch2/catch.hpp>

#include "common/mask.h"

TEST_CASE("phone numbers are masked in the middle") {
  CHECK(wa::mask_phone("+15551234567") == "+1555*****67");
  CHECK(wa::mask_phone("123") == "***");
  CHECK(wa::mask_phone("") == "");
}

TEST_CASE("jids keep their device suffix and server") {
  CHECK(wa::mask_jid("15551234567:3@s.whatsapp.net") == "1555*****67:3@s.whatsapp.net");
  CHECK(wa::mask_jid("15551234567@s.whatsapp.net") == "1555*****67@s.whatsapp.net");
  CHECK(wa::mask_jid("@s.whatsapp.net") == "@s.whatsapp.net");
}
