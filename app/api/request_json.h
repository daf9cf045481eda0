// The API's request bodies: parsed from untrusted JSON with limits (size, depth, items), checked
// field by field, unknown or repeated fields refused. Pure (no database, no sockets), so the
// fuzz target (fuzz/fuzz_api_request_json.cpp) drives it directly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace wa::app::api {

// Largest request body any endpoint accepts: a text of the maximum 65536 characters at up to 4
// bytes each, with room for the other fields (larger bodies get 413 before parsing).
inline constexpr std::size_t kMaxBodyBytes = 300 * 1024;
inline constexpr std::size_t kMaxIdempotencyKeyChars = 255;

// A refusal of the request: HTTP status, error code word and a message naming the field.
struct RequestError {
  int status = 400;
  std::string code;
  std::string message;
};

// POST /v1/accounts/{business_id}/messages
struct SendMessageBody {
  std::string to;
  std::string text;
  std::optional<std::string> reply_to;
};
std::variant<SendMessageBody, RequestError> parse_send_message(std::string_view body);

// POST /v1/accounts
struct RegisterAccountBody {
  std::string business_id;
  std::optional<std::string> jid;
};
std::variant<RegisterAccountBody, RequestError> parse_register_account(std::string_view body);

// POST /v1/accounts/{business_id}/pair-code
struct PairCodeBody {
  std::string phone;  // digits only after parsing ("+1 555 ..." accepted)
  bool push = true;
};
std::variant<PairCodeBody, RequestError> parse_pair_code(std::string_view body);

// POST /v1/accounts/{business_id}/webhooks
struct WebhookBody {
  std::string url;
  std::vector<std::string> events;     // event types, or "*" for all
  std::optional<std::string> secret;  // whsec_...; generated when absent
};
std::variant<WebhookBody, RequestError> parse_webhook(std::string_view body);

// POST /v1/accounts/{business_id}/webhooks/{id}/rotate-secret (an empty body takes the defaults)
inline constexpr std::int64_t kDefaultRotationOverlapSeconds = 24 * 3600;
inline constexpr std::int64_t kMaxRotationOverlapSeconds = 7 * 24 * 3600;
struct RotateSecretBody {
  std::optional<std::string> secret;  // the new whsec_...; generated when absent
  // How long the old secret keeps signing next to the new one (both in webhook-signature).
  std::int64_t overlap_seconds = kDefaultRotationOverlapSeconds;
};
std::variant<RotateSecretBody, RequestError> parse_rotate_secret(std::string_view body);

// The Idempotency-Key header: 1..255 visible ASCII characters. Empty string when fine.
std::string validate_idempotency_key(std::string_view key);

}  // namespace wa::app::api
