// Outgoing message ids (e2e reference §5): whatsmeow's GenerateMessageID, "3EB0" followed by the
// upper-case hex of the first 9 bytes of SHA-256(8-byte BE unix seconds || own user || "@c.us" ||
// 16 random bytes): 22 characters. A caller's own id (the outbox row's) is used as given.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/crypto/bytes.h"

namespace wa::client {

inline constexpr std::size_t kGeneratedMessageIdLength = 22;

// Deterministic form, for tests: `random16` must be 16 bytes (std::invalid_argument otherwise).
std::string make_message_id(std::int64_t unix_seconds, std::string_view own_user, crypto::ByteView random16);

// With the current time and fresh random bytes.
std::string new_message_id(std::string_view own_user);

// The caller's id when it has one, else a new one.
std::string message_id_or(std::string_view caller_id, std::string_view own_user);

}  // namespace wa::client
