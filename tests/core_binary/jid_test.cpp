#include <catch2/catch.hpp>

#include "core/binary/jid.h"

using wa::binary::Jid;

TEST_CASE("JID text forms parse and format back", "[binary][jid]") {
  for (const char* text : {"15551234567@s.whatsapp.net", "15551234567:12@s.whatsapp.net",
                           "15551234567:0@s.whatsapp.net", "15551234567_1:3@s.whatsapp.net",
                           "123456789012345@lid", "123456789012345:3@lid", "120363041234567890@g.us",
                           "15551234567-1600000000@g.us", "status@broadcast", "1234567890@broadcast",
                           "120363123456789012@newsletter", "15551234567@c.us", "@s.whatsapp.net", "@g.us",
                           "1234:5@hosted", "1234:5@hosted.lid", "100000000000001:2@msgr", "7-1234:2@interop",
                           "13135550002@bot"}) {
    INFO(text);
    const auto j = Jid::parse(text);
    REQUIRE(j.has_value());
    CHECK(j->to_string() == text);
  }
}

TEST_CASE("JID parts", "[binary][jid]") {
  auto j = *Jid::parse("15551234567_2:12@s.whatsapp.net");
  CHECK(j.user == "15551234567");
  CHECK(j.agent == 2);
  CHECK(j.device == 12);
  CHECK(j.server == "s.whatsapp.net");
  CHECK(j.is_user());
  CHECK(j.to_non_ad().to_string() == "15551234567@s.whatsapp.net");

  CHECK(Jid::parse("1@g.us")->is_group());
  CHECK(Jid::parse("status@broadcast")->is_status_broadcast());
  CHECK(Jid::parse("1@newsletter")->is_newsletter());
  CHECK(Jid::parse("1:1@lid")->is_lid());
  CHECK(Jid::parse("@s.whatsapp.net")->is_server());
  CHECK_FALSE(Jid::parse("1@s.whatsapp.net")->is_device());
  CHECK(Jid::parse("1:0@s.whatsapp.net")->is_device());

  auto i = *Jid::parse("7-1234:2@interop");
  CHECK(i.integrator == 7);
  CHECK(i.user == "1234");
  // A non-numeric underscore suffix is part of the user.
  CHECK(Jid::parse("ab_cd@g.us")->user == "ab_cd");
}

TEST_CASE("invalid JID text is rejected", "[binary][jid]") {
  for (const char* text : {"", "15551234567", "1@", "a@b@c", "1:x@s.whatsapp.net", "1:70000@s.whatsapp.net",
                           "1:@s.whatsapp.net", "1:123456@lid"}) {
    INFO(text);
    CHECK_FALSE(Jid::parse(text).has_value());
  }
}

TEST_CASE("JIDs compare by value", "[binary][jid]") {
  CHECK(*Jid::parse("1:2@s.whatsapp.net") == *Jid::parse("1:2@s.whatsapp.net"));
  CHECK(*Jid::parse("1:0@s.whatsapp.net") != *Jid::parse("1@s.whatsapp.net"));
  CHECK(*Jid::parse("1@lid") != *Jid::parse("1@s.whatsapp.net"));
  CHECK(*Jid::parse("1@g.us") < *Jid::parse("1@s.whatsapp.net"));
  CHECK(*Jid::parse("1:1@s.whatsapp.net") < *Jid::parse("1:2@s.whatsapp.net"));
}
