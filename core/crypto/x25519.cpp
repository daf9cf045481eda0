#include "core/crypto/x25519.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/crypto/crypto_error.h"
#include "core/crypto/openssl_handles.h"
#include "core/crypto/random.h"

namespace wa::crypto {

namespace {

EvpPkey private_key(const Key32& priv) {
  EvpPkey k(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, priv.data(), priv.size()));
  if (!k) throw_openssl_error("X25519 private key");
  return k;
}

void clamp(Key32& k) {
  k[0] &= 248;
  k[31] &= 127;
  k[31] |= 64;
}

}  // namespace

KeyPair KeyPair::from_private(const Key32& priv) {
  KeyPair kp;
  kp.priv = priv;
  clamp(kp.priv);
  EvpPkey k = private_key(kp.priv);
  std::size_t len = kp.pub.size();
  if (EVP_PKEY_get_raw_public_key(k.get(), kp.pub.data(), &len) != 1 || len != kp.pub.size()) {
    throw_openssl_error("X25519 public key");
  }
  return kp;
}

KeyPair KeyPair::generate() {
  Key32 priv;
  random_fill(priv);
  KeyPair kp = from_private(priv);
  OPENSSL_cleanse(priv.data(), priv.size());
  return kp;
}

Key32 x25519(const Key32& priv, const Key32& peer_pub) {
  EvpPkey mine = private_key(priv);
  EvpPkey peer(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer_pub.data(), peer_pub.size()));
  if (!peer) throw_openssl_error("X25519 peer key");
  EvpPkeyCtx ctx(EVP_PKEY_CTX_new(mine.get(), nullptr));
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1) {
    throw_openssl_error("X25519 derive init");
  }
  Key32 out;
  std::size_t len = out.size();
  // OpenSSL fails here for low-order peer points (all-zero shared secret).
  if (EVP_PKEY_derive(ctx.get(), out.data(), &len) != 1 || len != out.size()) throw_openssl_error("X25519 derive");
  return out;
}

}  // namespace wa::crypto
