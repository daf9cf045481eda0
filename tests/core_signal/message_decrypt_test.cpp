// decrypt_message: one parsed <message> through the Signal layer, as the receiver will run it.
#include <catch2/catch.hpp>

#include "core/binary/node_json.h"
#include "core/client/message_decrypt.h"
#include "core/signal/group_cipher.h"
#include "core/signal/padding.h"
#include "core/signal/session_cipher.h"
#include "tests/core_signal/party.h"

using namespace wa;
using namespace wa::client;
using namespace wa::signal;
using wa::test::FakeFenced;
using wa::test::Party;

namespace {

struct Enc {
  std::string type;
  Bytes data;
  std::string v = "2";
};

// A <message> as the server delivers it, parsed.
MessageInfo stanza(const std::string& from, const std::string& participant, const std::vector<Enc>& encs) {
  std::string json =
      R"({"tag":"message","attrs":{"from":")" + from + R"(","id":"3EB0TEST","t":"1764380000","type":"text")";
  if (!participant.empty()) json += R"(,"participant":")" + participant + "\"";
  json += R"(},"content":[)";
  for (std::size_t i = 0; i < encs.size(); ++i) {
    if (i) json += ",";
    json += R"({"tag":"enc","attrs":{"v":")" + encs[i].v + R"(","type":")" + encs[i].type +
            R"("},"content":{"bytes_hex":")" + crypto::to_hex(encs[i].data) + "\"}}";
  }
  json += "]}";
  return parse_message_info(binary::node_from_json_text(json));
}

Enc pairwise(Party& from, const Party& to, const Bytes& message) {
  auto c = encrypt(from.proto, to.addr, pad(message));
  return Enc{to_string(c.type), c.data};
}

}  // namespace

TEST_CASE("a DM: pkmsg then msg, duplicates, the content hook", "[message_decrypt]") {
  Party alice(Address{"15550001111", 0});
  Party bob(Address{"15550002222", 0});
  process_bundle(alice.proto, bob.addr, bob.bundle(1));

  auto first =
      stanza("15550001111:0@s.whatsapp.net", "", {pairwise(alice, bob, encode_text_message("hello"))});
  std::vector<std::string> hooked;
  std::size_t sessions_at_hook = 99;
  auto on_content = [&](const EncPayload& enc, const MessageContent& c) {
    hooked.push_back(std::string(to_string(enc.type)) + ":" + c.text.value_or("?"));
    sessions_at_hook = bob.store.sessions.size();
  };
  auto r = decrypt_message(bob.proto, first, on_content);
  REQUIRE(r.encs.size() == 1);
  CHECK(r.encs[0].outcome == EncOutcome::decrypted);
  REQUIRE(r.content());
  CHECK(r.content()->text == "hello");
  CHECK(hooked == std::vector<std::string>{"pkmsg:hello"});
  CHECK(sessions_at_hook == 0);  // the hook ran before the ratchet was stored
  CHECK_FALSE(r.needs_retry());

  // Redelivered (e.g. after a failover before the ack): a duplicate, no second content.
  auto again = decrypt_message(bob.proto, first, on_content);
  CHECK(again.encs[0].outcome == EncOutcome::duplicate);
  CHECK_FALSE(again.content());
  CHECK_FALSE(again.needs_retry());
  CHECK(hooked.size() == 1);

  auto reply = encrypt(bob.proto, alice.addr, pad(encode_text_message("hi")));
  decrypt(alice.proto, bob.addr, reply.type, reply.data);
  auto second =
      stanza("15550001111:0@s.whatsapp.net", "", {pairwise(alice, bob, encode_text_message("second"))});
  CHECK(second.encs[0].type == EncType::msg);
  CHECK(decrypt_message(bob.proto, second).content()->text == "second");
}

TEST_CASE("a group stanza: the SKDM in the pairwise enc opens the skmsg after it", "[message_decrypt]") {
  Party alice(Address{"100000000000001_1", 2});
  Party bob(Address{"100000000000002_1", 0});
  const std::string group = "120363000000000001@g.us";
  process_bundle(alice.proto, bob.addr, bob.bundle(1));
  SenderKeyName key{group, alice.addr};
  auto skdm = create_sender_key_distribution(alice.proto, key);
  auto skmsg = group_encrypt(alice.proto, key, pad(encode_text_message("hello group")));

  auto info =
      stanza(group, "100000000000001:2@lid",
             {pairwise(alice, bob, encode_sender_key_distribution(group, skdm)), Enc{"skmsg", skmsg}});
  int hooks = 0;
  auto r = decrypt_message(bob.proto, info, [&](const EncPayload&, const MessageContent&) { ++hooks; });
  REQUIRE(r.encs.size() == 2);
  CHECK(r.encs[0].outcome == EncOutcome::decrypted);
  CHECK(r.encs[0].content->type == "sender_key_distribution");
  CHECK(r.encs[1].outcome == EncOutcome::decrypted);
  REQUIRE(r.content());
  CHECK(r.content()->text == "hello group");
  CHECK(hooks == 2);

  SECTION("the next skmsg alone decrypts with the installed key") {
    auto next = group_encrypt(alice.proto, key, pad(encode_text_message("more")));
    CHECK(decrypt_message(bob.proto, stanza(group, "100000000000001:2@lid", {Enc{"skmsg", next}}))
              .content()
              ->text == "more");
  }
  SECTION("a skmsg from a member whose key we lack asks for a retry") {
    Party carol(Address{"15550003333", 0});
    SenderKeyName ck{group, carol.addr};
    create_sender_key_distribution(carol.proto, ck);
    auto c = group_encrypt(carol.proto, ck, pad(encode_text_message("who?")));
    auto rc = decrypt_message(bob.proto, stanza(group, "15550003333:0@s.whatsapp.net", {Enc{"skmsg", c}}));
    CHECK(rc.encs[0].outcome == EncOutcome::failed);
    CHECK(rc.encs[0].error_kind == SignalErrorKind::no_session);
    CHECK(rc.needs_retry());
  }
  SECTION("a key distributed in a DM is not installed for a group") {
    Party dave(Address{"15550004444", 0});
    process_bundle(dave.proto, bob.addr, bob.bundle(2));
    SenderKeyName dk{group, dave.addr};
    auto dskdm = create_sender_key_distribution(dave.proto, dk);
    auto dm = stanza("15550004444:0@s.whatsapp.net", "",
                     {pairwise(dave, bob, encode_sender_key_distribution(group, dskdm))});
    CHECK(decrypt_message(bob.proto, dm).encs[0].outcome == EncOutcome::decrypted);
    auto dmsg = group_encrypt(dave.proto, dk, pad(encode_text_message("planted?")));
    CHECK(decrypt_message(bob.proto, stanza(group, "15550004444:0@s.whatsapp.net", {Enc{"skmsg", dmsg}}))
              .encs[0]
              .outcome == EncOutcome::failed);
  }
}

TEST_CASE("bad plaintexts, unsupported encs, store and hook failures", "[message_decrypt]") {
  Party alice(Address{"15550001111", 0});
  Party bob(Address{"15550002222", 0});
  process_bundle(alice.proto, bob.addr, bob.bundle(1));
  const std::string from = "15550001111:0@s.whatsapp.net";

  SECTION("bad padding: malformed, and the ratchet moved on (no endless retries)") {
    auto body = encode_text_message("x");
    body.push_back(0x05);  // a pad of 5 that is only 1 byte long... plus a wrong byte before it
    body.push_back(0x03);
    auto c = encrypt(alice.proto, bob.addr, body);
    auto info = stanza(from, "", {Enc{to_string(c.type), c.data}});
    auto r = decrypt_message(bob.proto, info);
    CHECK(r.encs[0].outcome == EncOutcome::malformed);
    CHECK(r.encs[0].error.find("unpad") != std::string::npos);
    CHECK_FALSE(r.needs_retry());
    CHECK(decrypt_message(bob.proto, info).encs[0].outcome == EncOutcome::duplicate);
  }
  SECTION("not a protobuf: malformed") {
    auto c = encrypt(alice.proto, bob.addr, pad(Bytes{0xff, 0xff, 0xff}));
    auto r = decrypt_message(bob.proto, stanza(from, "", {Enc{to_string(c.type), c.data}}));
    CHECK(r.encs[0].outcome == EncOutcome::malformed);
  }
  SECTION("v=3 and unknown types are skipped") {
    auto r =
        decrypt_message(bob.proto, stanza(from, "", {Enc{"msmsg", Bytes{1}, "3"}, Enc{"frob", Bytes{2}}}));
    CHECK(r.encs[0].outcome == EncOutcome::unsupported);
    CHECK(r.encs[1].outcome == EncOutcome::unsupported);
  }
  SECTION("garbage ciphertext fails (retry receipt)") {
    auto r = decrypt_message(bob.proto, stanza(from, "", {Enc{"msg", Bytes{0x33, 0x01}}}));
    CHECK(r.encs[0].outcome == EncOutcome::failed);
    CHECK(r.needs_retry());
  }
  SECTION("a refusing hook or store propagates, and nothing is stored") {
    auto info = stanza(from, "", {pairwise(alice, bob, encode_text_message("keep me"))});
    CHECK_THROWS_AS(
        decrypt_message(bob.proto, info,
                        [](const EncPayload&, const MessageContent&) { throw FakeFenced("inbox"); }),
        FakeFenced);
    CHECK(bob.store.sessions.empty());
    bob.store.fail_writes = true;
    CHECK_THROWS_AS(decrypt_message(bob.proto, info), FakeFenced);
    bob.store.fail_writes = false;
    CHECK(decrypt_message(bob.proto, info).content()->text == "keep me");
  }
  SECTION("the resolver picks the session address (a PN sender whose session lives under its LID)") {
    Party alice_lid(Address{"100000000000001_1", 0});
    process_bundle(alice_lid.proto, bob.addr, bob.bundle(2));
    auto info = stanza(from, "", {pairwise(alice_lid, bob, encode_text_message("via lid"))});
    auto r = decrypt_message(bob.proto, info, {}, [](const binary::Jid&) {
      return Address{"100000000000001_1", 0};
    });
    CHECK(r.content()->text == "via lid");
    CHECK(bob.store.sessions.count(Address{"100000000000001_1", 0}) == 1);
  }
}
