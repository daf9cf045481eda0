// Phone-number pairing derivations (reference §6.6), checked by playing the phone's side.
#include <catch2/catch.hpp>

#include <set>

#include "core/client/pair_code.h"
#include "core/crypto/aes.h"
#include "core/crypto/bytes.h"
#include "core/crypto/digest.h"
#include "core/crypto/random.h"

using namespace wa::client;
using wa::crypto::Bytes;
using wa::crypto::Key32;
using wa::crypto::KeyPair;

TEST_CASE("linking code: 5 bytes as 8 base32 characters of the pairing alphabet", "[client][paircode]") {
  CHECK(linking_code_from_bytes({0, 0, 0, 0, 0}) == "11111111");
  CHECK(linking_code_from_bytes({0xff, 0xff, 0xff, 0xff, 0xff}) == "ZZZZZZZZ");
  // 0x08 0x86 0x42 0x98 0xe8 = 00001 00010 00011 00100 00101 00110 00111 01000
  CHECK(linking_code_from_bytes({0x08, 0x86, 0x42, 0x98, 0xe8}) == "23456789");
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    auto c = new_linking_code();
    REQUIRE(c.size() == 8);
    for (char ch : c) CHECK(std::string(kLinkingCodeAlphabet).find(ch) != std::string::npos);
    seen.insert(c);
  }
  CHECK(seen.size() == 50);
  CHECK(format_linking_code("ABCDEFGH") == "ABCD-EFGH");
}

TEST_CASE("pair-code phone numbers: digits only, more than 6, no leading 0", "[client][paircode]") {
  CHECK(pair_phone_digits("+1 (555) 000-1234") == "15550001234");
  CHECK_THROWS_AS(pair_phone_digits("+123456"), std::invalid_argument);
  CHECK_THROWS_AS(pair_phone_digits("0155500012"), std::invalid_argument);
  CHECK_THROWS_AS(pair_phone_digits("abc"), std::invalid_argument);
}

TEST_CASE("linking-code key is PBKDF2-HMAC-SHA256 with 131072 iterations", "[client][paircode]") {
  Bytes salt(32);
  for (std::size_t i = 0; i < salt.size(); ++i) salt[i] = static_cast<std::uint8_t>(i);
  // Python: hashlib.pbkdf2_hmac('sha256', b'ABCD1234', bytes(range(32)), 131072, 32).hex()
  CHECK(wa::crypto::to_hex(linking_code_key("ABCD1234", salt)) ==
        "b04d4d0e43ffa6d1a3b2226d4ee58ba2900a470c09bcf39fb5257512a55c08bc");
}

TEST_CASE("wrapped ephemeral keys round-trip and are bound to the code", "[client][paircode]") {
  auto kp = KeyPair::generate();
  auto salt = wa::crypto::random_bytes(32), iv = wa::crypto::random_bytes(16);
  auto w = wrap_ephemeral("ABCDEFGH", kp.pub, salt, iv);
  REQUIRE(w.size() == kWrappedKeySize);
  CHECK(Bytes(w.begin(), w.begin() + 32) == salt);
  CHECK(Bytes(w.begin() + 32, w.begin() + 48) == iv);
  CHECK(unwrap_ephemeral("ABCDEFGH", w) == kp.pub);
  CHECK(unwrap_ephemeral("ABCDEFGJ", w) != kp.pub);
  CHECK_THROWS_AS(unwrap_ephemeral("ABCDEFGH", Bytes(79)), std::invalid_argument);
}

TEST_CASE("companion_finish: the phone recovers the bundle and derives the same adv secret", "[client][paircode]") {
  const std::string code = new_linking_code();
  auto companion_eph = KeyPair::generate();
  auto companion_identity = KeyPair::generate();
  auto primary_eph = KeyPair::generate();
  auto primary_identity = KeyPair::generate();
  auto wrapped_primary = wrap_ephemeral(code, primary_eph.pub, wa::crypto::random_bytes(32), wa::crypto::random_bytes(16));
  auto adv_rand = wa::crypto::random_bytes(32), bundle_salt = wa::crypto::random_bytes(32), nonce = wa::crypto::random_bytes(12);

  auto fin = companion_finish(code, companion_eph, wrapped_primary, primary_identity.pub, companion_identity, adv_rand,
                              bundle_salt, nonce);
  REQUIRE(fin.wrapped_key_bundle.size() == 156);

  // The phone: it knows the companion's ephemeral (unwrapped from companion_hello) and identity.
  auto eph_shared = wa::crypto::x25519(primary_eph.priv, companion_eph.pub);
  wa::crypto::ByteView b(fin.wrapped_key_bundle);
  CHECK(Bytes(b.begin(), b.begin() + 32) == bundle_salt);
  auto key = wa::crypto::hkdf_sha256(eph_shared, b.subspan(0, 32),
                                     wa::crypto::view("link_code_pairing_key_bundle_encryption_key"), 32);
  auto pt = wa::crypto::aes256_gcm_open(key, b.subspan(32, 12), {}, b.subspan(44));
  REQUIRE(pt.size() == 96);
  CHECK(Bytes(pt.begin(), pt.begin() + 32) == Bytes(companion_identity.pub.begin(), companion_identity.pub.end()));
  CHECK(Bytes(pt.begin() + 32, pt.begin() + 64) == Bytes(primary_identity.pub.begin(), primary_identity.pub.end()));
  CHECK(Bytes(pt.begin() + 64, pt.end()) == adv_rand);
  auto identity_shared = wa::crypto::x25519(primary_identity.priv, companion_identity.pub);
  Bytes ikm(eph_shared.begin(), eph_shared.end());
  ikm.insert(ikm.end(), identity_shared.begin(), identity_shared.end());
  ikm.insert(ikm.end(), adv_rand.begin(), adv_rand.end());
  auto adv = wa::crypto::hkdf_sha256(ikm, {}, wa::crypto::view("adv_secret"), 32);
  CHECK(Bytes(fin.adv_secret.begin(), fin.adv_secret.end()) == adv);

  // A wrong code unwraps a different primary key: the secret no longer matches the phone's.
  std::string wrong = code;
  wrong[0] = wrong[0] == '1' ? '2' : '1';
  auto bad = companion_finish(wrong, companion_eph, wrapped_primary, primary_identity.pub, companion_identity, adv_rand,
                              bundle_salt, nonce);
  CHECK(Bytes(bad.adv_secret.begin(), bad.adv_secret.end()) != adv);
}
