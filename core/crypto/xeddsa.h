// XEdDSA signatures over Curve25519 keys (the libsignal scheme), via libsignal-protocol-c.
// Used for the server certificate chain and for pairing (ADV signatures).
#pragma once

#include "core/crypto/bytes.h"

namespace wa::crypto {

inline constexpr std::size_t kSignatureSize = 64;

// 64-byte signature of `message` with the X25519 private key. Randomised (fresh 64-byte nonce).
Bytes xeddsa_sign(const Key32& priv, ByteView message);
// True iff `signature` is a valid 64-byte XEdDSA signature of `message` under the X25519 public
// key. Malformed input gives false, never an exception.
bool xeddsa_verify(const Key32& pub, ByteView message, ByteView signature);

}  // namespace wa::crypto
