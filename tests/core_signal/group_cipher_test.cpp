// Sender keys: SKDM distribution and skmsg among three in-memory members.
#include <catch2/catch.hpp>

#include "core/signal/group_cipher.h"
#include "core/signal/padding.h"
#include "tests/core_signal/party.h"

using namespace wa;
using namespace wa::signal;
using wa::test::FakeFenced;
using wa::test::Party;

namespace {
// Not `"x" + std::to_string(i)`: GCC 12 warns falsely (-Wrestrict) on that at -O2.
std::string numbered(const char* prefix, int i) {
  std::string s = prefix;
  s += std::to_string(i);
  return s;
}
const std::string kGroup = "120363000000000001@g.us";
Bytes text(std::string_view s) {
  return crypto::to_bytes(s);
}
std::string open(Party& at, const Party& from, const Bytes& skmsg) {
  return crypto::to_string(unpad(group_decrypt(at.proto, SenderKeyName{kGroup, from.addr}, skmsg)));
}
SignalErrorKind error_kind(const std::function<void()>& f) {
  try {
    f();
  } catch (const SignalError& e) {
    return e.kind();
  }
  FAIL("no SignalError thrown");
  return SignalErrorKind::other;
}
}  // namespace

TEST_CASE("group messages with sender keys", "[signal]") {
  Party alice(Address{"100000000000001_1", 0});
  Party bob(Address{"100000000000002_1", 2});
  Party carol(Address{"15550003333", 0});
  SenderKeyName alice_key{kGroup, alice.addr};

  auto skdm = create_sender_key_distribution(alice.proto, alice_key);
  REQUIRE(skdm.size() > 1);
  CHECK(skdm[0] == 0x33);
  // Asking again returns the same key (same chain), not a new one.
  auto skdm_again = create_sender_key_distribution(alice.proto, alice_key);
  CHECK(skdm_again == skdm);
  CHECK(alice.store.sender_keys.size() == 1);

  std::vector<Bytes> sk;
  for (int i = 0; i < 4; ++i)
    sk.push_back(group_encrypt(alice.proto, alice_key, pad(text(numbered("g", i)))));

  SECTION("members who processed the SKDM decrypt, in any order") {
    process_sender_key_distribution(bob.proto, alice_key, skdm);
    process_sender_key_distribution(carol.proto, alice_key, skdm);
    for (int i = 0; i < 4; ++i) CHECK(open(bob, alice, sk[i]) == numbered("g", i));
    CHECK(open(carol, alice, sk[3]) == "g3");
    CHECK(open(carol, alice, sk[0]) == "g0");
    CHECK(open(carol, alice, sk[2]) == "g2");
    CHECK(open(carol, alice, sk[1]) == "g1");
    CHECK(error_kind([&] { group_decrypt(bob.proto, alice_key, sk[2]); }) == SignalErrorKind::duplicate);

    // Bob sends to the same group with his own key.
    SenderKeyName bob_key{kGroup, bob.addr};
    auto bob_skdm = create_sender_key_distribution(bob.proto, bob_key);
    process_sender_key_distribution(alice.proto, bob_key, bob_skdm);
    auto b = group_encrypt(bob.proto, bob_key, pad(text("from bob")));
    CHECK(open(alice, bob, b) == "from bob");
  }
  SECTION("no sender key: no_session (answered with a retry receipt)") {
    CHECK(error_kind([&] { group_decrypt(bob.proto, alice_key, sk[0]); }) == SignalErrorKind::no_session);
  }
  SECTION("an SKDM received late still opens later messages, not earlier ones") {
    auto later = create_sender_key_distribution(alice.proto, alice_key);
    CHECK(later != skdm);  // carries the advanced iteration
    process_sender_key_distribution(bob.proto, alice_key, later);
    auto next = group_encrypt(alice.proto, alice_key, pad(text("after")));
    CHECK(open(bob, alice, next) == "after");
    CHECK(error_kind([&] { group_decrypt(bob.proto, alice_key, sk[0]); }) == SignalErrorKind::duplicate);
  }
  SECTION("a message for another group or sender does not open") {
    process_sender_key_distribution(bob.proto, alice_key, skdm);
    CHECK(error_kind([&] {
            group_decrypt(bob.proto, SenderKeyName{"120363000000000002@g.us", alice.addr}, sk[0]);
          }) == SignalErrorKind::no_session);
    CHECK(error_kind([&] {
            group_decrypt(bob.proto, SenderKeyName{kGroup, carol.addr}, sk[0]);
          }) == SignalErrorKind::no_session);
  }
  SECTION("malformed input") {
    CHECK(error_kind([&] {
            process_sender_key_distribution(bob.proto, alice_key, Bytes{0x33, 0x08});
          }) == SignalErrorKind::invalid_message);
    CHECK(error_kind([&] { process_sender_key_distribution(bob.proto, alice_key, Bytes{}); }) ==
          SignalErrorKind::invalid_message);
    process_sender_key_distribution(bob.proto, alice_key, skdm);
    auto forged = sk[0];
    forged[forged.size() - 1] ^= 0x01;  // the signature
    CHECK(error_kind([&] { group_decrypt(bob.proto, alice_key, forged); }) ==
          SignalErrorKind::invalid_message);
  }
  SECTION("store and hook failures propagate unchanged") {
    process_sender_key_distribution(bob.proto, alice_key, skdm);
    bob.store.fail_writes = true;
    CHECK_THROWS_AS(group_decrypt(bob.proto, alice_key, sk[0]), FakeFenced);
    bob.store.fail_writes = false;
    CHECK_THROWS_AS(group_decrypt(bob.proto, alice_key, sk[0], [](ByteView) { throw FakeFenced("inbox"); }),
                    FakeFenced);
    CHECK(open(bob, alice, sk[0]) == "g0");
  }
}
