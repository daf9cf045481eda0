// Base64 (RFC 4648): standard alphabet with padding (WebSocket keys, QR strings) and URL-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/crypto/bytes.h"

namespace wa::crypto {

std::string base64_encode(ByteView data, bool url_safe = false, bool pad = true);
// Strict: rejects characters outside the alphabet and bad padding (nullopt). Padding optional.
std::optional<Bytes> base64_decode(std::string_view text, bool url_safe = false);

}  // namespace wa::crypto
