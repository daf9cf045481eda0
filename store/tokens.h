// API bearer tokens (wa_api_tokens, migration 0009). A token is "wac_<id>_<secret>": <id> is 16 hex
// digits (public, the row's key), <secret> 43 base64url characters (256 random bits). Only the
// SHA-256 of the whole token is stored; verify_token() finds the row by id and compares hashes in
// constant time. Tokens are scoped to one business; the admin token is not stored here (it comes
// from the environment or a Secret file, see app/api/auth.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/errors.h"
#include "store/pg.h"

namespace wa::store {

inline constexpr std::size_t kMaxTokenNameChars = 100;

struct ApiToken {
  std::string id;
  std::string business_id;
  std::string name;
  std::int64_t created_at_ms = 0;
  std::optional<std::int64_t> revoked_at_ms;
};

struct CreatedToken {
  ApiToken token;
  std::string secret_token;  // the whole "wac_..." string: shown once, never stored
};

// SHA-256 of `token` (32 bytes).
std::vector<std::uint8_t> token_hash(std::string_view token);
// The <id> part of a well-formed token, or nullopt (wrong prefix, length or alphabet).
std::optional<std::string> token_id(std::string_view token);

// Creates a token for a registered business. Throws NotFound (unknown business), StoreError (name
// too long or not UTF-8).
CreatedToken create_token(pg::Connection& conn, const std::string& business_id, const std::string& name);

// Tokens of one business (or of all when empty), oldest first, revoked ones included.
std::vector<ApiToken> list_tokens(pg::Connection& conn, const std::string& business_id = {});

// Revokes the token with `id`; false when there is no such unrevoked token.
bool revoke_token(pg::Connection& conn, const std::string& id);

// The business a presented token belongs to, or nullopt when the token is malformed, unknown or
// revoked. The hash comparison is constant-time.
std::optional<std::string> verify_token(pg::Connection& conn, std::string_view presented);

}  // namespace wa::store
