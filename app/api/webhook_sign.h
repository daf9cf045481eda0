// Standard Webhooks signing: `webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`
// where the key is the base64 after the secret's "whsec_" prefix (24-64 bytes). Pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace wa::app::api {

// A new secret: "whsec_" + base64 of 32 random bytes.
std::string generate_webhook_secret();
// Empty when `secret` is "whsec_" + base64 of 24..64 bytes; else why not.
std::string validate_webhook_secret(std::string_view secret);
// "v1,<base64 signature>". Throws std::invalid_argument for an invalid secret.
std::string sign_webhook(std::string_view secret, std::string_view msg_id, std::int64_t timestamp,
                         std::string_view body);

}  // namespace wa::app::api
