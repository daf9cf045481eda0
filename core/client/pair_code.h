// Phone-number pairing ("pair code", transport reference §6.6): the linking code, wrapping the
// companion's ephemeral key under it, and the companion_finish derivation (key bundle and the
// new adv secret). Pure functions; randomness is passed in so tests can fix it.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "core/crypto/bytes.h"
#include "core/crypto/x25519.h"

namespace wa::client {

inline constexpr char kLinkingCodeAlphabet[] = "123456789ABCDEFGHJKLMNPQRSTVWXYZ";
inline constexpr std::uint32_t kLinkingCodeIterations = 2u << 16;  // 131072, as whatsmeow and Baileys
inline constexpr std::size_t kWrappedKeySize = 80;                 // salt 32 || iv 16 || ct 32

// 5 bytes -> 8 characters, base32 (MSB first) in the alphabet above, no padding.
std::string linking_code_from_bytes(const std::array<std::uint8_t, 5>& b);
std::string new_linking_code();
// "ABCD-EFGH"
std::string format_linking_code(const std::string& code);

// wa::phone_digits (common/phone.h); throws std::invalid_argument with the reason.
std::string pair_phone_digits(const std::string& phone);

// PBKDF2-HMAC-SHA256(code, salt, 131072 iterations, 32 bytes).
crypto::Key32 linking_code_key(const std::string& code, crypto::ByteView salt);
// salt(32) || iv(16) || AES-256-CTR(key(code, salt), iv, pub)
crypto::Bytes wrap_ephemeral(const std::string& code, const crypto::Key32& pub, crypto::ByteView salt, crypto::ByteView iv);
// Inverse of wrap_ephemeral; throws std::invalid_argument unless `wrapped` is 80 bytes.
crypto::Key32 unwrap_ephemeral(const std::string& code, crypto::ByteView wrapped);

struct CompanionFinish {
  crypto::Bytes wrapped_key_bundle;  // bundle_salt(32) || nonce(12) || AES-GCM(...) (96 + 16): 156 bytes
  crypto::Key32 adv_secret{};        // replaces the device's adv secret for the pair-success HMAC
};

// `companion_ephemeral` is the key pair wrapped in companion_hello; the primary's values come
// from the link_code_companion_reg notification; adv_rand (32), bundle_salt (32) and nonce (12)
// are random. Throws std::invalid_argument on wrong sizes, crypto::CryptoError on bad keys.
CompanionFinish companion_finish(const std::string& code, const crypto::KeyPair& companion_ephemeral,
                                 crypto::ByteView wrapped_primary_ephemeral, const crypto::Key32& primary_identity_pub,
                                 const crypto::KeyPair& identity, crypto::ByteView adv_rand,
                                 crypto::ByteView bundle_salt, crypto::ByteView nonce);

}  // namespace wa::client
