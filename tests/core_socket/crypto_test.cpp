// Known-answer tests for the crypto layer: RFC 4231 (HMAC), RFC 5869 (HKDF), RFC 7748 (X25519),
// NIST SP 800-38D test case (AES-GCM), plus XEdDSA sign/verify through libsignal.
#include <catch2/catch.hpp>

#include "core/crypto/aes.h"
#include "core/crypto/bytes.h"
#include "core/crypto/crypto_error.h"
#include "core/crypto/digest.h"
#include "core/crypto/random.h"
#include "core/crypto/x25519.h"
#include "core/crypto/xeddsa.h"

using namespace wa::crypto;

TEST_CASE("hex round trip and errors", "[crypto]") {
  CHECK(to_hex(from_hex("00ff10Ab")) == "00ff10ab");
  CHECK_THROWS_AS(from_hex("abc"), std::invalid_argument);
  CHECK_THROWS_AS(from_hex("zz"), std::invalid_argument);
  CHECK_THROWS_AS(key32_from_hex("00"), std::invalid_argument);
}

TEST_CASE("SHA-256 and SHA-512 known answers", "[crypto]") {
  CHECK(to_hex(sha256(view("abc"))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(to_hex(sha256(view("ab"), view("c"))) == to_hex(sha256(view("abc"))));
  CHECK(to_hex(sha512(view("abc"))).substr(0, 32) == "ddaf35a193617abacc417349ae204131");
  CHECK(to_hex(md5(view(""))) == "d41d8cd98f00b204e9800998ecf8427e");
}

TEST_CASE("HMAC-SHA256 RFC 4231 test cases 1, 2 and 6", "[crypto]") {
  Bytes key1(20, 0x0b);
  CHECK(to_hex(hmac_sha256(key1, view("Hi There"))) ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  CHECK(to_hex(hmac_sha256(view("Jefe"), view("what do ya want for nothing?"))) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  Bytes key6(131, 0xaa);
  CHECK(to_hex(hmac_sha256(key6, view("Test Using Larger Than Block-Size Key - Hash Key First"))) ==
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  HmacSha256 inc(view("Jefe"));
  inc.update(view("what do ya want "));
  inc.update(view("for nothing?"));
  CHECK(to_hex(inc.final()) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("HKDF-SHA256 RFC 5869 test cases 1 and 3", "[crypto]") {
  Bytes ikm(22, 0x0b);
  Bytes okm = hkdf_sha256(ikm, from_hex("000102030405060708090a0b0c"), from_hex("f0f1f2f3f4f5f6f7f8f9"), 42);
  CHECK(to_hex(okm) ==
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
  // Test case 3: empty salt and info.
  Bytes okm3 = hkdf_sha256(ikm, {}, {}, 42);
  CHECK(to_hex(okm3) ==
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
  // Empty IKM (Noise split) must work and be deterministic.
  CHECK(hkdf_sha256({}, ikm, {}, 64).size() == 64);
  CHECK_THROWS_AS(hkdf_sha256(ikm, {}, {}, 255 * 32 + 1), CryptoError);
}

TEST_CASE("X25519 RFC 7748 section 6.1 vectors", "[crypto]") {
  Key32 alice_priv = key32_from_hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  Key32 bob_priv = key32_from_hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
  KeyPair alice = KeyPair::from_private(alice_priv);
  KeyPair bob = KeyPair::from_private(bob_priv);
  CHECK(to_hex(alice.pub) == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  CHECK(to_hex(bob.pub) == "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  const char* shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
  CHECK(to_hex(x25519(alice_priv, bob.pub)) == shared);
  CHECK(to_hex(x25519(bob.priv, alice.pub)) == shared);
  // Low-order point (all zero) is refused.
  CHECK_THROWS_AS(x25519(alice.priv, Key32{}), CryptoError);
  KeyPair g = KeyPair::generate();
  CHECK((g.priv[0] & 7) == 0);
  CHECK((g.priv[31] & 0xc0) == 0x40);
}

TEST_CASE("AES-256-GCM NIST test case 14 and tamper detection", "[crypto]") {
  Bytes key(32, 0), iv(12, 0), pt(16, 0);
  Bytes ct = aes256_gcm_seal(key, iv, {}, pt);
  CHECK(to_hex(ct) == "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");
  CHECK(aes256_gcm_open(key, iv, {}, ct) == pt);
  Bytes aad = to_bytes(std::string_view("header"));
  Bytes ct2 = aes256_gcm_seal(key, iv, aad, view("hello"));
  CHECK(to_bytes(view("hello")) == aes256_gcm_open(key, iv, aad, ct2));
  CHECK_THROWS_AS(aes256_gcm_open(key, iv, {}, ct2), CryptoError);  // wrong AD
  ct2[0] ^= 1;
  CHECK_THROWS_AS(aes256_gcm_open(key, iv, aad, ct2), CryptoError);
  CHECK_THROWS_AS(aes256_gcm_open(key, iv, aad, Bytes(5)), CryptoError);
  CHECK(aes256_gcm_open(key, iv, {}, aes256_gcm_seal(key, iv, {}, {})).empty());
}

TEST_CASE("AES-CBC (SP 800-38A F.2.5) and CTR round trips", "[crypto]") {
  Bytes key = from_hex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
  Bytes iv = from_hex("000102030405060708090a0b0c0d0e0f");
  Bytes pt = from_hex("6bc1bee22e409f96e93d7e117393172a");
  Bytes ct = aes_cbc_encrypt(key, iv, pt);
  REQUIRE(ct.size() == 32);  // one block plus a full padding block
  CHECK(to_hex(ByteView(ct).first(16)) == "f58c4c04d6e5f1ba779eabfb5f7bfbd6");
  CHECK(aes_cbc_decrypt(key, iv, ct) == pt);
  ct.back() ^= 1;
  CHECK_THROWS_AS(aes_cbc_decrypt(key, iv, ct), CryptoError);
  CHECK_THROWS_AS(aes_cbc_encrypt(Bytes(7), iv, pt), CryptoError);
  Bytes data = random_bytes(100);
  CHECK(aes_ctr(key, iv, aes_ctr(key, iv, data)) == data);
}

TEST_CASE("XEdDSA sign and verify", "[crypto]") {
  KeyPair kp = KeyPair::generate();
  Bytes msg = random_bytes(77);
  Bytes sig = xeddsa_sign(kp.priv, msg);
  REQUIRE(sig.size() == 64);
  CHECK(xeddsa_verify(kp.pub, msg, sig));
  Bytes bad = sig;
  bad[10] ^= 0x01;
  CHECK_FALSE(xeddsa_verify(kp.pub, msg, bad));
  msg[0] ^= 1;
  CHECK_FALSE(xeddsa_verify(kp.pub, msg, sig));
  CHECK_FALSE(xeddsa_verify(KeyPair::generate().pub, msg, sig));
  CHECK_FALSE(xeddsa_verify(kp.pub, msg, Bytes(63)));
}

#include "core/crypto/base64.h"

TEST_CASE("base64 RFC 4648 vectors and strict decoding", "[crypto]") {
  const char* plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  const char* enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  for (int i = 0; i < 7; ++i) {
    CHECK(base64_encode(view(plain[i])) == enc[i]);
    auto d = base64_decode(enc[i]);
    REQUIRE(d);
    CHECK(to_string(*d) == plain[i]);
  }
  CHECK(base64_encode(from_hex("fbff"), true, false) == "-_8");
  CHECK(base64_decode("-_8", true) == from_hex("fbff"));
  CHECK_FALSE(base64_decode("Zm9v!"));
  CHECK_FALSE(base64_decode("Z"));
  CHECK_FALSE(base64_decode("Zh=="));  // non-canonical trailing bits
  CHECK_FALSE(base64_decode("Zg="));
  CHECK(to_hex(sha1(view("abc"))) == "a9993e364706816aba3e25717850c26c9cd0d89d");
}
