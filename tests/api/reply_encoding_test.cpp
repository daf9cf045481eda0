// A reply's WhatsApp encoding: extendedTextMessage with contextInfo (stanzaId, participant,
// quotedMessage), decoded back by the same decoder the receive path and wasim's phones use.
#include <catch2/catch.hpp>

#include "core/client/message_content.h"

TEST_CASE("reply: a quote is sent as extendedTextMessage contextInfo", "[api][reply]") {
  using wa::client::Quote;
  const auto plain = wa::client::encode_text_message("hi");
  const auto p = wa::client::decode_message(plain);
  CHECK(p.text == "hi");
  CHECK_FALSE(p.quote.has_value());

  const auto bytes = wa::client::encode_text_message("the answer", Quote{"3EB0AA", "15550000001@s.whatsapp.net", "q?"});
  const auto r = wa::client::decode_message(bytes);
  CHECK(r.type == "text");
  CHECK(r.text == "the answer");
  REQUIRE(r.quote.has_value());
  CHECK(r.quote->id == "3EB0AA");
  CHECK(r.quote->sender == "15550000001@s.whatsapp.net");
  CHECK(r.quote->text == "q?");
  CHECK(bytes != plain);
}
