// Hashes, HMAC and HKDF (RFC 5869) over SHA-256, plus the SHA-512/MD5 the protocol needs.
#pragma once

#include <cstddef>
#include <memory>

#include "core/crypto/bytes.h"

namespace wa::crypto {

Key32 sha256(ByteView data);
// SHA-256 over the concatenation a || b without copying (Noise MixHash).
Key32 sha256(ByteView a, ByteView b);
Bytes sha512(ByteView data);
// SHA-1 only for the WebSocket accept key (RFC 6455), never for security.
Bytes sha1(ByteView data);
// MD5 is only used where the protocol demands it (ClientPayload buildHash), never for security.
Bytes md5(ByteView data);

Key32 hmac_sha256(ByteView key, ByteView data);

// HKDF-SHA256. An empty salt means HashLen zero bytes (RFC 5869 §2.2). At most 255*32 bytes.
Bytes hkdf_sha256(ByteView ikm, ByteView salt, ByteView info, std::size_t length);

// Incremental HMAC-SHA256 (EVP_MAC), for callers that feed data in pieces.
class HmacSha256 {
 public:
  explicit HmacSha256(ByteView key);
  ~HmacSha256();
  HmacSha256(const HmacSha256&) = delete;
  HmacSha256& operator=(const HmacSha256&) = delete;
  void update(ByteView data);
  Key32 final();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wa::crypto
