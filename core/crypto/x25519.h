// X25519 key pairs and Diffie-Hellman (RFC 7748) through OpenSSL.
#pragma once

#include "core/crypto/bytes.h"

namespace wa::crypto {

struct KeyPair {
  Key32 priv{};  // clamped as the protocol stores it (priv[0] &= 248; priv[31] &= 127; |= 64)
  Key32 pub{};

  static KeyPair generate();
  // Derives the public key; clamps the given private key first.
  static KeyPair from_private(const Key32& priv);
};

// Shared secret X25519(priv, peer_pub). Throws CryptoError when the peer key is a low-order
// point (the result would be all zeros).
Key32 x25519(const Key32& priv, const Key32& peer_pub);

}  // namespace wa::crypto
