// The Message protobuf decoder: the subset we interpret, raw keeping of everything else, limits.
#include <catch2/catch.hpp>

#include "core/client/message_content.h"
#include "wa_message.pb.h"

using namespace wa;
using namespace wa::client;
using crypto::Bytes;

namespace {
Bytes ser(const proto::Message& m) {
  std::string s;
  REQUIRE(m.SerializeToString(&s));
  return Bytes(s.begin(), s.end());
}
// Appends a length-delimited field (tag `field`, wire type 2) to `out`.
void append_field(Bytes& out, int field, const Bytes& body) {
  auto varint = [&](std::uint64_t v) {
    while (v >= 0x80) {
      out.push_back(static_cast<std::uint8_t>(v | 0x80));
      v >>= 7;
    }
    out.push_back(static_cast<std::uint8_t>(v));
  };
  varint((static_cast<std::uint64_t>(field) << 3) | 2);
  varint(body.size());
  out.insert(out.end(), body.begin(), body.end());
}
}  // namespace

TEST_CASE("text messages", "[message]") {
  SECTION("conversation, as in the reference example") {
    auto c = decode_message(crypto::from_hex("0a0568656c6c6f"));
    CHECK(c.type == "text");
    CHECK(c.text == "hello");
    CHECK(c.other_fields.empty());
    CHECK(crypto::to_hex(c.raw) == "0a0568656c6c6f");
  }
  SECTION("extendedTextMessage") {
    proto::Message m;
    m.mutable_extended_text_message()->set_text("with a link https://example.org");
    auto c = decode_message(ser(m));
    CHECK(c.type == "text");
    CHECK(c.text == "with a link https://example.org");
  }
  SECTION("unicode and the 65,536-character limit") {
    std::string big;
    for (int i = 0; i < 65536; ++i) big += "\xF0\x9F\x98\x80";  // U+1F600, 4 bytes
    auto c = decode_message(encode_text_message(big));
    CHECK(c.text->size() == big.size());
    CHECK_THROWS_AS(decode_message(encode_text_message(big + "x")), MessageDecodeError);
  }
  SECTION("invalid UTF-8 text is refused") {
    CHECK_THROWS_WITH(decode_message(encode_text_message("bad \xC0\xAF")), Catch::Contains("UTF-8"));
    CHECK_THROWS_AS(decode_message(encode_text_message("\xED\xA0\x80")), MessageDecodeError);  // surrogate
    CHECK_THROWS_AS(decode_message(encode_text_message("\xF4\x90\x80\x80")),
                    MessageDecodeError);                                                   // > U+10FFFF
    CHECK_THROWS_AS(decode_message(encode_text_message("\xE2\x82")), MessageDecodeError);  // truncated
    CHECK(valid_utf8("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80"));
  }
}

TEST_CASE("protocol parts", "[message]") {
  SECTION("sender key distribution (alone, and with text)") {
    Bytes skdm{0x33, 0x08, 0x01};
    auto c = decode_message(encode_sender_key_distribution("120363000000000001@g.us", skdm));
    CHECK(c.type == "sender_key_distribution");
    REQUIRE(c.sender_key_distribution);
    CHECK(c.sender_key_distribution->group_id == "120363000000000001@g.us");
    CHECK(c.sender_key_distribution->distribution == skdm);
    CHECK_FALSE(c.text);

    proto::Message m;
    m.ParseFromString(crypto::to_string(encode_sender_key_distribution("g@g.us", skdm)));
    m.set_conversation("hi group");
    auto both = decode_message(ser(m));
    CHECK(both.type == "text");
    CHECK(both.text == "hi group");
    CHECK(both.sender_key_distribution);
  }
  SECTION("protocol message (revoke)") {
    proto::Message m;
    auto* p = m.mutable_protocol_message();
    p->set_type(proto::Message::ProtocolMessage::REVOKE);
    p->mutable_key()->set_remote_jid("15550001111@s.whatsapp.net");
    p->mutable_key()->set_from_me(true);
    p->mutable_key()->set_id("3EB0ABCDEF");
    auto c = decode_message(ser(m));
    CHECK(c.type == "protocol");
    REQUIRE(c.protocol);
    CHECK(c.protocol->type == 0);
    CHECK(c.protocol->key_id == "3EB0ABCDEF");
    CHECK(c.protocol->key_from_me);
  }
  SECTION("device-sent wrapper is unwrapped once") {
    Bytes original = encode_text_message("sent from my phone");
    Bytes ctx_info;
    append_field(ctx_info, 3, Bytes{1, 2, 3});
    Bytes with_ctx = original;
    append_field(with_ctx, 35, ctx_info);
    auto wrapped = encode_device_sent("15550002222@s.whatsapp.net", with_ctx);
    proto::Message w;
    REQUIRE(w.ParseFromArray(wrapped.data(), static_cast<int>(wrapped.size())));
    CHECK(w.message_context_info() == crypto::to_string(ctx_info));  // copied, as whatsmeow does
    auto c = decode_message(wrapped);
    CHECK(c.device_sent_destination == "15550002222@s.whatsapp.net");
    CHECK(c.text == "sent from my phone");
    CHECK(c.type == "text");
    proto::Message inner;
    REQUIRE(inner.ParseFromArray(c.raw.data(), static_cast<int>(c.raw.size())));
    CHECK(inner.conversation() == "sent from my phone");

    proto::Message nested;
    nested.mutable_device_sent_message()
        ->mutable_message()
        ->mutable_device_sent_message()
        ->set_destination_jid("x");
    CHECK_THROWS_WITH(decode_message(ser(nested)), Catch::Contains("nested"));
  }
}

TEST_CASE("other content is kept raw with its type", "[message]") {
  Bytes image;  // imageMessage (field 3) with some inner bytes, messageContextInfo (35)
  append_field(image, 3, Bytes{0x0a, 0x03, 'u', 'r', 'l'});
  append_field(image, 35, Bytes{0x08, 0x01});
  auto c = decode_message(image);
  CHECK(c.type == "field_3");
  CHECK(c.other_fields == std::vector<int>{3});
  CHECK_FALSE(c.text);
  CHECK(c.raw == image);

  Bytes reaction;
  append_field(reaction, 46, Bytes{0x12, 0x02, 'o', 'k'});
  append_field(reaction, 9, Bytes{});
  auto r = decode_message(reaction);
  CHECK(r.type == "field_9,reaction");
  CHECK(r.other_fields == std::vector<int>{9, 46});

  CHECK(decode_message(Bytes{}).type == "empty");
}

TEST_CASE("malformed and oversized protobufs", "[message]") {
  CHECK_THROWS_AS(decode_message(Bytes{0x0a, 0x05, 'h'}), MessageDecodeError);  // truncated
  CHECK_THROWS_AS(decode_message(Bytes{0xff, 0xff, 0xff}), MessageDecodeError);
  MessageLimits small;
  small.max_bytes = 4;
  CHECK_THROWS_WITH(decode_message(crypto::from_hex("0a0568656c6c6f"), small),
                    Catch::Contains("over the limit"));
  // Nesting (here unknown field 5 as nested groups) stops at the depth limit.
  auto groups = [](int depth) {
    Bytes b(depth, 0x2b);            // field 5, start group
    b.insert(b.end(), depth, 0x2c);  // field 5, end group
    return b;
  };
  CHECK(decode_message(groups(8)).type == "field_5");
  CHECK_THROWS_AS(decode_message(groups(40)), MessageDecodeError);
  MessageLimits deep_ok;
  deep_ok.max_depth = 100;
  CHECK(decode_message(groups(40), deep_ok).type == "field_5");
}
