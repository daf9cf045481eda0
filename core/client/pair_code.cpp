#include "core/client/pair_code.h"

#include "common/phone.h"

#include <openssl/evp.h>

#include <stdexcept>

#include "core/crypto/aes.h"
#include "core/crypto/crypto_error.h"
#include "core/crypto/digest.h"
#include "core/crypto/random.h"

namespace wa::client {

std::string linking_code_from_bytes(const std::array<std::uint8_t, 5>& b) {
  std::uint64_t v = 0;
  for (auto x : b) v = v << 8 | x;
  std::string out(8, '?');
  for (int i = 7; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = kLinkingCodeAlphabet[v & 31];
    v >>= 5;
  }
  return out;
}

std::string new_linking_code() {
  std::array<std::uint8_t, 5> b{};
  crypto::random_fill(b);
  return linking_code_from_bytes(b);
}

std::string format_linking_code(const std::string& code) {
  if (code.size() != 8) return code;
  return code.substr(0, 4) + "-" + code.substr(4);
}

std::string pair_phone_digits(const std::string& phone) {
  std::string why;
  auto digits = wa::phone_digits(phone, &why);
  if (!digits) throw std::invalid_argument("phone number " + why);
  return *digits;
}

crypto::Key32 linking_code_key(const std::string& code, crypto::ByteView salt) {
  crypto::Key32 key{};
  if (PKCS5_PBKDF2_HMAC(code.data(), static_cast<int>(code.size()), salt.data(), static_cast<int>(salt.size()),
                        static_cast<int>(kLinkingCodeIterations), EVP_sha256(), static_cast<int>(key.size()),
                        key.data()) != 1) {
    crypto::throw_openssl_error("PBKDF2 of the linking code");
  }
  return key;
}

crypto::Bytes wrap_ephemeral(const std::string& code, const crypto::Key32& pub, crypto::ByteView salt,
                             crypto::ByteView iv) {
  if (salt.size() != 32 || iv.size() != 16) throw std::invalid_argument("wrap_ephemeral: salt must be 32 bytes, iv 16");
  const auto key = linking_code_key(code, salt);
  const auto ct = crypto::aes_ctr(key, iv, pub);
  crypto::Bytes out(salt.begin(), salt.end());
  out.insert(out.end(), iv.begin(), iv.end());
  out.insert(out.end(), ct.begin(), ct.end());
  return out;
}

crypto::Key32 unwrap_ephemeral(const std::string& code, crypto::ByteView wrapped) {
  if (wrapped.size() != kWrappedKeySize) {
    throw std::invalid_argument("wrapped ephemeral key must be 80 bytes, got " + std::to_string(wrapped.size()));
  }
  const auto key = linking_code_key(code, wrapped.subspan(0, 32));
  const auto pt = crypto::aes_ctr(key, wrapped.subspan(32, 16), wrapped.subspan(48, 32));
  return crypto::key32_from(pt, "primary ephemeral key");
}

CompanionFinish companion_finish(const std::string& code, const crypto::KeyPair& companion_ephemeral,
                                 crypto::ByteView wrapped_primary_ephemeral, const crypto::Key32& primary_identity_pub,
                                 const crypto::KeyPair& identity, crypto::ByteView adv_rand,
                                 crypto::ByteView bundle_salt, crypto::ByteView nonce) {
  if (adv_rand.size() != 32 || bundle_salt.size() != 32 || nonce.size() != 12) {
    throw std::invalid_argument("companion_finish: adv_rand and bundle_salt must be 32 bytes, nonce 12");
  }
  const auto primary_ephemeral = unwrap_ephemeral(code, wrapped_primary_ephemeral);
  const auto eph_shared = crypto::x25519(companion_ephemeral.priv, primary_ephemeral);
  static constexpr std::string_view kBundleInfo = "link_code_pairing_key_bundle_encryption_key";
  const auto bundle_key = crypto::hkdf_sha256(eph_shared, bundle_salt, crypto::view(kBundleInfo), 32);
  crypto::Bytes pt(identity.pub.begin(), identity.pub.end());
  pt.insert(pt.end(), primary_identity_pub.begin(), primary_identity_pub.end());
  pt.insert(pt.end(), adv_rand.begin(), adv_rand.end());
  const auto sealed = crypto::aes256_gcm_seal(bundle_key, nonce, {}, pt);

  CompanionFinish out;
  out.wrapped_key_bundle.assign(bundle_salt.begin(), bundle_salt.end());
  out.wrapped_key_bundle.insert(out.wrapped_key_bundle.end(), nonce.begin(), nonce.end());
  out.wrapped_key_bundle.insert(out.wrapped_key_bundle.end(), sealed.begin(), sealed.end());

  const auto identity_shared = crypto::x25519(identity.priv, primary_identity_pub);
  crypto::Bytes ikm(eph_shared.begin(), eph_shared.end());
  ikm.insert(ikm.end(), identity_shared.begin(), identity_shared.end());
  ikm.insert(ikm.end(), adv_rand.begin(), adv_rand.end());
  static constexpr std::string_view kAdvInfo = "adv_secret";
  out.adv_secret = crypto::key32_from(crypto::hkdf_sha256(ikm, {}, crypto::view(kAdvInfo), 32), "adv secret");
  return out;
}

}  // namespace wa::client
