// Replays the cross-implementation vector (data/baileys-6.17.16-vector.json, produced by Baileys
// 6.17.16 with libsignal-node 2.0.1; see the e2e reference §9): our Signal layer must decrypt the
// pkmsg and the group skmsg Baileys wrote, remove the used pre-key, and Baileys' padding must unpad.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "core/binary/json.h"
#include "core/signal/group_cipher.h"
#include "core/signal/padding.h"
#include "core/signal/session_cipher.h"
#include "tests/core_signal/party.h"
#include "wa_message.pb.h"

using namespace wa;
using namespace wa::signal;

namespace {

binary::Json load_vector() {
  std::ifstream in(std::string(WACONN_SIGNAL_TEST_DATA) + "/baileys-6.17.16-vector.json");
  REQUIRE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  return binary::parse_json(ss.str());
}

const std::string& str(const binary::Json& j, std::initializer_list<std::string_view> path) {
  const binary::Json* cur = &j;
  for (auto key : path) {
    cur = cur->find(key);
    REQUIRE(cur != nullptr);
  }
  return cur->text;
}

Key32 key32_from_33(const std::string& hex) {
  auto b = crypto::from_hex(hex);
  REQUIRE(b.size() == 33);
  REQUIRE(b[0] == 0x05);
  return crypto::key32_from(ByteView(b).subspan(1));
}

// Bob's store exactly as the vector gives it (nothing generated).
test::MemorySignalStore bob_store(const binary::Json& v) {
  test::MemorySignalStore s;
  s.local.identity.pub = key32_from_33(str(v, {"bob", "identity_pub33"}));
  s.local.identity.priv = crypto::key32_from_hex(str(v, {"bob", "identity_priv"}));
  s.local.registration_id = static_cast<std::uint32_t>(std::stoul(str(v, {"bob", "registration_id"})));
  s.signed_pre_key.id = static_cast<std::uint32_t>(std::stoul(str(v, {"bob", "signed_pre_key", "id"})));
  s.signed_pre_key.pair.pub = key32_from_33(str(v, {"bob", "signed_pre_key", "pub33"}));
  s.signed_pre_key.pair.priv = crypto::key32_from_hex(str(v, {"bob", "signed_pre_key", "priv"}));
  s.signed_pre_key.signature = crypto::from_hex(str(v, {"bob", "signed_pre_key", "signature"}));
  auto pk_id = static_cast<std::uint32_t>(std::stoul(str(v, {"bob", "pre_key", "id"})));
  s.pre_keys[pk_id].pub = key32_from_33(str(v, {"bob", "pre_key", "pub33"}));
  s.pre_keys[pk_id].priv = crypto::key32_from_hex(str(v, {"bob", "pre_key", "priv"}));
  return s;
}

}  // namespace

TEST_CASE("decrypts the pkmsg and skmsg Baileys' libsignal produced", "[signal][xcheck]") {
  auto v = load_vector();
  REQUIRE(str(v, {"enc_type"}) == "pkmsg");
  test::Party bob(Address{"15550001111", 3}, bob_store(v));
  // Bob addresses Alice as Baileys' own user, device 0 (§9).
  test::Party alice_view(Address{str(v, {"alice", "address_name_as_seen_by_bob"}), 0});
  const Address alice = alice_view.addr;

  auto padded = decrypt(bob.proto, alice, CiphertextType::pkmsg, crypto::from_hex(str(v, {"pkmsg_hex"})));
  CHECK(crypto::to_hex(padded) == str(v, {"plaintext_padded_hex"}));
  auto plain = unpad(padded);
  wa::proto::Message m;
  REQUIRE(m.ParseFromArray(plain.data(), static_cast<int>(plain.size())));
  CHECK(m.conversation() == "hello");

  CHECK(bob.store.removed_pre_keys == std::vector<std::uint32_t>{31});
  CHECK(crypto::to_hex(bob.store.identities.at(alice)) == str(v, {"alice", "identity_pub32"}));
  CHECK(bob.store.sessions.count(alice) == 1);
  // A replay of the same pkmsg is a duplicate now, not a second message.
  try {
    decrypt(bob.proto, alice, CiphertextType::pkmsg, crypto::from_hex(str(v, {"pkmsg_hex"})));
    FAIL("replayed pkmsg decrypted twice");
  } catch (const SignalError& e) {
    CHECK(e.kind() == SignalErrorKind::duplicate);
  }

  // Our reply on that session is a msg.
  auto reply = encrypt(bob.proto, alice, pad(crypto::to_bytes("hi from C++")));
  CHECK(reply.type == CiphertextType::msg);

  // Group: Alice's SKDM, then her skmsg.
  SenderKeyName name{str(v, {"group", "group_jid"}), alice};
  process_sender_key_distribution(bob.proto, name, crypto::from_hex(str(v, {"group", "skdm_hex"})));
  auto gpadded = group_decrypt(bob.proto, name, crypto::from_hex(str(v, {"group", "skmsg_hex"})));
  CHECK(crypto::to_hex(gpadded) == str(v, {"group", "plaintext_padded_hex"}));
  auto gplain = unpad(gpadded);
  wa::proto::Message gm;
  REQUIRE(gm.ParseFromArray(gplain.data(), static_cast<int>(gplain.size())));
  CHECK(gm.conversation() == "hello group");
}
