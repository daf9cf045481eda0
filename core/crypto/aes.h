// AES through OpenSSL EVP: AES-256-GCM for Noise, AES-CBC/PKCS#7 and AES-CTR for Signal and media.
#pragma once

#include "core/crypto/bytes.h"

namespace wa::crypto {

inline constexpr std::size_t kGcmTagSize = 16;
inline constexpr std::size_t kGcmNonceSize = 12;

// Returns ciphertext || 16-byte tag.
Bytes aes256_gcm_seal(ByteView key, ByteView nonce, ByteView aad, ByteView plaintext);
// Input is ciphertext || tag. Throws CryptoError when the input is shorter than a tag or does
// not authenticate.
Bytes aes256_gcm_open(ByteView key, ByteView nonce, ByteView aad, ByteView ciphertext_and_tag);

// Key of 16, 24 or 32 bytes; 16-byte IV. Decrypt throws CryptoError on bad padding.
Bytes aes_cbc_encrypt(ByteView key, ByteView iv, ByteView plaintext);
Bytes aes_cbc_decrypt(ByteView key, ByteView iv, ByteView ciphertext);
// CTR is its own inverse.
Bytes aes_ctr(ByteView key, ByteView iv, ByteView data);

}  // namespace wa::crypto
