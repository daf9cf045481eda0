// Who is calling: `Authorization: Bearer <token>` on every /v1 endpoint. A business token (store/
// tokens.h) may act only for its own business; the admin token (from the environment or a Secret
// file, never the database) may act for every business and manage accounts. Missing or unknown
// tokens get 401; a business token used for any other business id gets 403 with the same answer
// whether that business exists or not, so tokens cannot enumerate the registered businesses.
// Every comparison of token material is constant-time.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "app/http_server.h"

namespace wa::app::api {

struct Principal {
  bool admin = false;
  std::string business_id;  // the token's business (empty for the admin)
};

// The business a (non-admin) token belongs to, or nullopt when it is not a valid token. May throw
// (database unavailable: the caller answers 503).
using TokenVerifier = std::function<std::optional<std::string>(std::string_view token)>;

// Shortest admin token accepted: guessing must be hopeless.
inline constexpr std::size_t kMinAdminTokenChars = 32;

class Authenticator {
 public:
  // An empty `admin_token` means no admin (account management is then CLI-only).
  Authenticator(std::string admin_token, TokenVerifier verify);

  // The caller, or the 401/503 answer to send.
  std::variant<Principal, HttpResponse> authenticate(const HttpRequest& req) const;

  // nullopt when `p` may act for `business_id`; else the 403 answer (the same for every refused
  // id, registered or not).
  static std::optional<HttpResponse> authorize(const Principal& p, std::string_view business_id);
  // nullopt for the admin; else 403.
  static std::optional<HttpResponse> require_admin(const Principal& p);

 private:
  std::vector<unsigned char> admin_hash_;  // SHA-256 of the admin token; empty = no admin
  TokenVerifier verify_;
};

// The token of an "Authorization: Bearer <token>" header value; nullopt when absent or another
// scheme.
std::optional<std::string_view> bearer_token(std::string_view authorization);

// The admin token from `file` (first line, trimmed) when given, else from the environment
// variable `env_name`; empty when neither is set. Throws std::runtime_error when the file cannot
// be read or the token is shorter than kMinAdminTokenChars.
std::string load_admin_token(const std::string& file, const char* env_name);

}  // namespace wa::app::api
