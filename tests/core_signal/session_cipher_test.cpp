// Two in-memory parties run the pairwise protocol as WhatsApp devices do: bundle → pkmsg → msg in
// both directions, out-of-order and duplicate delivery, store failures and the plaintext hook.
#include <catch2/catch.hpp>

#include "core/signal/padding.h"
#include "core/signal/session_cipher.h"
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

Bytes text(std::string_view s) {
  return crypto::to_bytes(s);
}

Bytes send(Party& from, const Party& to, std::string_view body, CiphertextType expect) {
  auto c = encrypt(from.proto, to.addr, pad(text(body)));
  CHECK(to_string(c.type) == std::string(to_string(expect)));
  return c.data;
}

std::string receive(Party& at, const Party& from, CiphertextType type, const Bytes& data) {
  return crypto::to_string(unpad(decrypt(at.proto, from.addr, type, data)));
}

SignalErrorKind error_kind(const std::function<void()>& f) {
  try {
    f();
  } catch (const SignalError& e) {
    UNSCOPED_INFO(e.what());
    return e.kind();
  }
  FAIL("no SignalError thrown");
  return SignalErrorKind::other;
}

}  // namespace

TEST_CASE("pkmsg then msg in both directions", "[signal]") {
  Party alice(Address{"15550001111", 0});
  Party bob(Address{"123456789012345_1", 3});

  REQUIRE_FALSE(has_session(alice.proto, bob.addr));
  process_bundle(alice.proto, bob.addr, bob.bundle(2));
  REQUIRE(has_session(alice.proto, bob.addr));

  // Until Bob answers, everything Alice sends is a pkmsg (it carries the X3DH header).
  auto p1 = send(alice, bob, "hello bob", CiphertextType::pkmsg);
  auto p2 = send(alice, bob, "are you there?", CiphertextType::pkmsg);
  CHECK(receive(bob, alice, CiphertextType::pkmsg, p1) == "hello bob");
  CHECK(bob.store.removed_pre_keys == std::vector<std::uint32_t>{2});
  CHECK(bob.store.identities.at(alice.addr) == alice.store.local.identity.pub);
  CHECK(receive(bob, alice, CiphertextType::pkmsg, p2) == "are you there?");

  auto r1 = send(bob, alice, "hi alice", CiphertextType::msg);
  CHECK(receive(alice, bob, CiphertextType::msg, r1) == "hi alice");
  CHECK(alice.store.identities.at(bob.addr) == bob.store.local.identity.pub);

  // Bob's reply confirmed the session: Alice now sends plain msg.
  for (int i = 0; i < 3; ++i) {
    auto m = send(alice, bob, numbered("ping ", i), CiphertextType::msg);
    CHECK(receive(bob, alice, CiphertextType::msg, m) == numbered("ping ", i));
    auto r = send(bob, alice, numbered("pong ", i), CiphertextType::msg);
    CHECK(receive(alice, bob, CiphertextType::msg, r) == numbered("pong ", i));
  }
  CHECK(alice.changes.empty());
  CHECK(bob.changes.empty());
}

TEST_CASE("a bundle without a one-time pre-key still builds a session", "[signal]") {
  Party alice(Address{"15550001111", 0});
  Party bob(Address{"15550002222", 0});
  process_bundle(alice.proto, bob.addr, bob.bundle(0));
  auto p = send(alice, bob, "no one-time key", CiphertextType::pkmsg);
  CHECK(receive(bob, alice, CiphertextType::pkmsg, p) == "no one-time key");
  CHECK(bob.store.removed_pre_keys.empty());
  CHECK(bob.store.pre_keys.size() == 5);
}

TEST_CASE("out-of-order and duplicate msg delivery", "[signal]") {
  Party alice(Address{"15550001111", 0});
  Party bob(Address{"15550002222", 0});
  process_bundle(alice.proto, bob.addr, bob.bundle(1));
  receive(bob, alice, CiphertextType::pkmsg, send(alice, bob, "x", CiphertextType::pkmsg));
  receive(alice, bob, CiphertextType::msg, send(bob, alice, "y", CiphertextType::msg));

  std::vector<Bytes> m;
  for (int i = 0; i < 5; ++i) m.push_back(send(alice, bob, numbered("m", i), CiphertextType::msg));
  CHECK(receive(bob, alice, CiphertextType::msg, m[4]) == "m4");
  CHECK(receive(bob, alice, CiphertextType::msg, m[1]) == "m1");
  CHECK(receive(bob, alice, CiphertextType::msg, m[0]) == "m0");
  CHECK(error_kind([&] { decrypt(bob.proto, alice.addr, CiphertextType::msg, m[1]); }) ==
        SignalErrorKind::duplicate);
  CHECK(receive(bob, alice, CiphertextType::msg, m[3]) == "m3");
  CHECK(receive(bob, alice, CiphertextType::msg, m[2]) == "m2");
  CHECK(error_kind([&] { decrypt(bob.proto, alice.addr, CiphertextType::msg, m[4]); }) ==
        SignalErrorKind::duplicate);

  // A new ratchet step from Bob, delivered after older messages of Alice's previous chain.
  auto late = send(alice, bob, "late", CiphertextType::msg);
  auto r = send(bob, alice, "new chain", CiphertextType::msg);
  CHECK(receive(alice, bob, CiphertextType::msg, r) == "new chain");
  auto fresh = send(alice, bob, "fresh", CiphertextType::msg);
  CHECK(receive(bob, alice, CiphertextType::msg, fresh) == "fresh");
  CHECK(receive(bob, alice, CiphertextType::msg, late) == "late");
}

TEST_CASE("decryption failures carry their kind", "[signal]") {
  Party alice(Address{"15550001111", 0});
  Party bob(Address{"15550002222", 0});

  SECTION("msg without a session") {
    process_bundle(alice.proto, bob.addr, bob.bundle(1));
    auto p = send(alice, bob, "x", CiphertextType::pkmsg);
    receive(bob, alice, CiphertextType::pkmsg, p);
    auto m = send(bob, alice, "y", CiphertextType::msg);
    Party stranger(Address{"15550003333", 0});
    CHECK(error_kind([&] { decrypt(stranger.proto, bob.addr, CiphertextType::msg, m); }) ==
          SignalErrorKind::no_session);
  }
  SECTION("encrypt without a session") {
    CHECK(error_kind([&] { encrypt(alice.proto, bob.addr, pad(text("x"))); }) == SignalErrorKind::no_session);
  }
  SECTION("pkmsg naming a pre-key we no longer have") {
    process_bundle(alice.proto, bob.addr, bob.bundle(4));
    auto p = send(alice, bob, "x", CiphertextType::pkmsg);
    bob.store.pre_keys.erase(4);
    CHECK(error_kind([&] { decrypt(bob.proto, alice.addr, CiphertextType::pkmsg, p); }) ==
          SignalErrorKind::no_pre_key);
  }
  SECTION("tampered ciphertext") {
    process_bundle(alice.proto, bob.addr, bob.bundle(1));
    receive(bob, alice, CiphertextType::pkmsg, send(alice, bob, "x", CiphertextType::pkmsg));
    receive(alice, bob, CiphertextType::msg, send(bob, alice, "y", CiphertextType::msg));
    auto m = send(alice, bob, "secret", CiphertextType::msg);
    m[m.size() - 12] ^= 0x01;  // inside the AES ciphertext, before the 8-byte MAC
    // libsignal-protocol-c tries every stored session state and then reports the MAC failure as
    // SG_ERR_INVALID_MESSAGE.
    CHECK(error_kind([&] { decrypt(bob.proto, alice.addr, CiphertextType::msg, m); }) ==
          SignalErrorKind::invalid_message);
    CHECK(bob.store.sessions.count(alice.addr) == 1);
  }
  SECTION("garbage and empty input") {
    Bytes junk{0x33, 0x0a, 0xff, 0x01};
    CHECK(error_kind([&] { decrypt(bob.proto, alice.addr, CiphertextType::msg, junk); }) ==
          SignalErrorKind::invalid_message);
    CHECK(error_kind([&] { decrypt(bob.proto, alice.addr, CiphertextType::pkmsg, junk); }) ==
          SignalErrorKind::invalid_message);
    CHECK(error_kind([&] { decrypt(bob.proto, alice.addr, CiphertextType::msg, Bytes{}); }) ==
          SignalErrorKind::invalid_message);
    Bytes huge(kMaxCiphertext + 1, 0x33);
    CHECK(error_kind([&] { decrypt(bob.proto, alice.addr, CiphertextType::msg, huge); }) ==
          SignalErrorKind::invalid_message);
  }
  SECTION("a bundle whose signed pre-key signature does not verify") {
    auto b = bob.bundle(1);
    b.signed_pre_key_signature[10] ^= 0x40;
    CHECK(error_kind([&] { process_bundle(alice.proto, bob.addr, b); }) == SignalErrorKind::invalid_key);
    CHECK_FALSE(has_session(alice.proto, bob.addr));
  }
}

TEST_CASE("store failures reach the caller as the store's own exception", "[signal]") {
  Party alice(Address{"15550001111", 0});
  Party bob(Address{"15550002222", 0});
  process_bundle(alice.proto, bob.addr, bob.bundle(1));
  auto p = send(alice, bob, "x", CiphertextType::pkmsg);

  bob.store.fail_writes = true;
  CHECK_THROWS_AS(decrypt(bob.proto, alice.addr, CiphertextType::pkmsg, p), FakeFenced);
  CHECK(bob.store.sessions.empty());
  CHECK(bob.store.pre_keys.count(1) == 1);

  // Once the store works again the same ciphertext decrypts (nothing was half-applied that
  // prevents it).
  bob.store.fail_writes = false;
  CHECK(receive(bob, alice, CiphertextType::pkmsg, p) == "x");

  alice.store.fail_writes = true;
  CHECK_THROWS_AS(encrypt(alice.proto, bob.addr, pad(text("y"))), FakeFenced);
}

TEST_CASE("the plaintext hook runs before the ratchet is stored", "[signal]") {
  Party alice(Address{"15550001111", 0});
  Party bob(Address{"15550002222", 0});
  process_bundle(alice.proto, bob.addr, bob.bundle(3));
  auto p = send(alice, bob, "first", CiphertextType::pkmsg);

  // The hook refuses (e.g. the inbox insert was fenced): no session, pre-key kept.
  int calls = 0;
  CHECK_THROWS_AS(decrypt(bob.proto, alice.addr, CiphertextType::pkmsg, p,
                          [&](ByteView) {
                            ++calls;
                            throw FakeFenced("inbox insert refused");
                          }),
                  FakeFenced);
  CHECK(calls == 1);
  CHECK(bob.store.sessions.count(alice.addr) == 0);
  CHECK(bob.store.pre_keys.count(3) == 1);

  // The hook sees the padded plaintext; the session is stored after it returns.
  std::string seen;
  std::size_t sessions_when_hook_ran = 99;
  auto plain = decrypt(bob.proto, alice.addr, CiphertextType::pkmsg, p, [&](ByteView pt) {
    seen = crypto::to_string(unpad(pt));
    sessions_when_hook_ran = bob.store.sessions.size();
  });
  CHECK(seen == "first");
  CHECK(sessions_when_hook_ran == 0);
  CHECK(bob.store.sessions.count(alice.addr) == 1);
  CHECK(crypto::to_string(unpad(plain)) == "first");

  // msg: a refused hook leaves the chain where it was, so the message is not "duplicate" later.
  receive(alice, bob, CiphertextType::msg, send(bob, alice, "ack", CiphertextType::msg));
  auto m = send(alice, bob, "second", CiphertextType::msg);
  auto before = bob.store.sessions.at(alice.addr);
  CHECK_THROWS_AS(
      decrypt(bob.proto, alice.addr, CiphertextType::msg, m, [](ByteView) { throw FakeFenced("no"); }),
      FakeFenced);
  CHECK(bob.store.sessions.at(alice.addr) == before);
  CHECK(receive(bob, alice, CiphertextType::msg, m) == "second");
}

TEST_CASE("a contact's new identity is accepted and reported", "[signal]") {
  Party alice(Address{"15550001111", 0});
  auto bob = std::make_unique<Party>(Address{"15550002222", 0});
  process_bundle(alice.proto, bob->addr, bob->bundle(1));
  receive(*bob, alice, CiphertextType::pkmsg, send(alice, *bob, "x", CiphertextType::pkmsg));
  auto old_key = bob->store.local.identity.pub;

  SECTION("outgoing: a bundle with a new identity") {
    // Bob reinstalled: new identity and keys under the same address.
    bob = std::make_unique<Party>(Address{"15550002222", 0});
    process_bundle(alice.proto, bob->addr, bob->bundle(1));
    REQUIRE(alice.changes.size() == 1);
    CHECK(alice.changes[0].address == bob->addr);
    CHECK(alice.changes[0].previous == old_key);
    CHECK(alice.changes[0].current == bob->store.local.identity.pub);
    CHECK(alice.store.identities.at(bob->addr) == bob->store.local.identity.pub);
    CHECK(receive(*bob, alice, CiphertextType::pkmsg, send(alice, *bob, "again", CiphertextType::pkmsg)) ==
          "again");
  }
  SECTION("incoming: a pkmsg from the new identity") {
    bob = std::make_unique<Party>(Address{"15550002222", 0});
    process_bundle(bob->proto, alice.addr, alice.bundle(2));
    auto p = send(*bob, alice, "new phone", CiphertextType::pkmsg);
    CHECK(alice.changes.empty());
    CHECK(receive(alice, *bob, CiphertextType::pkmsg, p) == "new phone");
    REQUIRE(alice.changes.size() == 1);
    CHECK(alice.changes[0].previous == old_key);
    CHECK(alice.changes[0].current == bob->store.local.identity.pub);
  }
}
