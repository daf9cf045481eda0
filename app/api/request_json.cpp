#include "app/api/request_json.h"

#include <algorithm>
#include <functional>
#include <map>
#include <vector>

#include <fmt/format.h>

#include "app/api/webhook_http.h"
#include "app/api/webhook_sign.h"
#include "common/phone.h"
#include "core/binary/json.h"
#include "store/accounts.h"
#include "store/outbox.h"
#include "store/webhooks.h"

namespace wa::app::api {
namespace {

using binary::Json;

// Far above any valid request, far below what could cost memory or stack.
constexpr binary::JsonLimits kLimits{kMaxBodyBytes, 8, 64};

RequestError bad(std::string message, std::string code = "bad_request") {
  return RequestError{400, std::move(code), std::move(message)};
}

// A field and how to take it: a handler returns an error sentence, or empty when accepted.
struct Field {
  std::string name;
  bool required;
  std::function<std::string(const Json&)> take;
};

// Parses `body` as one JSON object with only the listed fields, each at most once.
std::optional<RequestError> parse_object(std::string_view body, const std::vector<Field>& fields) {
  if (body.empty()) return bad("request body is empty; a JSON object is expected", "malformed_json");
  Json doc;
  try {
    doc = binary::parse_json(body, kLimits);
  } catch (const binary::JsonError& e) {
    return bad(fmt::format("request body is not valid JSON: {}", e.what()), "malformed_json");
  }
  if (doc.type != Json::Type::object)
    return bad(fmt::format("request body must be a JSON object, not {}", binary::to_string(doc.type)),
               "malformed_json");
  std::vector<bool> seen(fields.size(), false);
  for (const auto& m : doc.members) {
    const auto it = std::find_if(fields.begin(), fields.end(), [&](const Field& f) { return f.name == m.key; });
    if (it == fields.end()) {
      std::string shown = m.key.size() > 64 ? m.key.substr(0, 64) + "..." : m.key;
      return bad(fmt::format("unknown field '{}'", shown), "unknown_field");
    }
    const auto i = static_cast<std::size_t>(it - fields.begin());
    if (seen[i]) return bad(fmt::format("field '{}' appears twice", m.key), "invalid_field");
    seen[i] = true;
    if (auto e = it->take(m.value); !e.empty()) return bad(fmt::format("{}: {}", m.key, e), "invalid_field");
  }
  for (std::size_t i = 0; i < fields.size(); ++i)
    if (fields[i].required && !seen[i]) return bad(fmt::format("field '{}' is required", fields[i].name), "missing_field");
  return std::nullopt;
}

std::function<std::string(const Json&)> string_into(std::string& out, std::function<std::string(std::string_view)> check) {
  return [&out, check = std::move(check)](const Json& v) -> std::string {
    if (v.type != Json::Type::string) return fmt::format("must be a string, not {}", binary::to_string(v.type));
    if (auto e = check(v.text); !e.empty()) return e;
    out = v.text;
    return {};
  };
}

// An optional string field: null or absent leaves `out` empty.
std::function<std::string(const Json&)> optional_string_into(std::optional<std::string>& out,
                                                             std::function<std::string(std::string_view)> check) {
  return [&out, check = std::move(check)](const Json& v) -> std::string {
    if (v.type == Json::Type::null) return {};
    if (v.type != Json::Type::string) return fmt::format("must be a string, not {}", binary::to_string(v.type));
    if (auto e = check(v.text); !e.empty()) return e;
    out = v.text;
    return {};
  };
}

}  // namespace

std::variant<SendMessageBody, RequestError> parse_send_message(std::string_view body) {
  SendMessageBody out;
  const std::vector<Field> fields = {
      {"to", true, string_into(out.to, [](std::string_view s) { return store::validate_recipient(s); })},
      {"text", true, string_into(out.text, [](std::string_view s) { return store::validate_text(s); })},
      {"reply_to", false, optional_string_into(out.reply_to, [](std::string_view s) { return store::validate_message_id(s); })},
  };
  if (auto e = parse_object(body, fields)) return *e;
  return out;
}

std::variant<RegisterAccountBody, RequestError> parse_register_account(std::string_view body) {
  RegisterAccountBody out;
  const std::vector<Field> fields = {
      {"business_id", true,
       string_into(out.business_id, [](std::string_view s) { return store::validate_business_id(s); })},
      {"jid", false, optional_string_into(out.jid, [](std::string_view s) { return store::validate_jid(s); })},
  };
  if (auto e = parse_object(body, fields)) return *e;
  return out;
}

std::variant<PairCodeBody, RequestError> parse_pair_code(std::string_view body) {
  PairCodeBody out;
  const std::vector<Field> fields = {
      {"phone", true,
       [&](const Json& v) -> std::string {
         if (v.type != Json::Type::string) return fmt::format("must be a string, not {}", binary::to_string(v.type));
         if (v.text.size() > 32) return "must be at most 32 characters";
         std::string why;
         const auto digits = phone_digits(v.text, &why);
         if (!digits) return why.empty() ? "not a phone number in international form" : why;
         out.phone = *digits;
         return {};
       }},
      {"push", false,
       [&](const Json& v) -> std::string {
         if (v.type != Json::Type::boolean) return fmt::format("must be a boolean, not {}", binary::to_string(v.type));
         out.push = v.boolean;
         return {};
       }},
  };
  if (auto e = parse_object(body, fields)) return *e;
  return out;
}

std::variant<WebhookBody, RequestError> parse_webhook(std::string_view body) {
  WebhookBody out;
  const std::vector<Field> fields = {
      {"url", true,
       string_into(out.url,
                   [](std::string_view s) -> std::string {
                     if (s.size() > store::kMaxWebhookUrlChars)
                       return fmt::format("must be at most {} characters", store::kMaxWebhookUrlChars);
                     std::string why;
                     if (!parse_webhook_url(s, &why)) return why;
                     return {};
                   })},
      {"events", true,
       [&](const Json& v) -> std::string {
         if (v.type != Json::Type::array) return fmt::format("must be an array, not {}", binary::to_string(v.type));
         if (v.items.empty() || v.items.size() > 8) return "must list 1-8 event types";
         for (const auto& e : v.items) {
           if (e.type != Json::Type::string) return "must hold strings";
           const bool known = e.text == "*" || std::any_of(std::begin(store::kEventTypes), std::end(store::kEventTypes),
                                                           [&](const char* t) { return e.text == t; });
           if (!known)
             return "unknown event type; use message.received, message.status, account.status, account.leader or *";
           if (std::find(out.events.begin(), out.events.end(), e.text) != out.events.end()) return "lists a type twice";
           out.events.push_back(e.text);
         }
         return {};
       }},
      {"secret", false, optional_string_into(out.secret, [](std::string_view s) { return validate_webhook_secret(s); })},
  };
  if (auto e = parse_object(body, fields)) return *e;
  return out;
}

std::variant<RotateSecretBody, RequestError> parse_rotate_secret(std::string_view body) {
  RotateSecretBody out;
  if (body.empty()) return out;  // all defaults
  const std::vector<Field> fields = {
      {"secret", false, optional_string_into(out.secret, [](std::string_view s) { return validate_webhook_secret(s); })},
      {"overlap_seconds", false,
       [&](const Json& v) -> std::string {
         if (v.type != Json::Type::number || v.text.empty() || v.text.size() > 7 ||
             v.text.find_first_not_of("0123456789") != std::string::npos)
           return fmt::format("must be a whole number of seconds, 0-{}", kMaxRotationOverlapSeconds);
         out.overlap_seconds = std::stoll(v.text);
         if (out.overlap_seconds > kMaxRotationOverlapSeconds)
           return fmt::format("must be at most {} (7 days)", kMaxRotationOverlapSeconds);
         return {};
       }},
  };
  if (auto e = parse_object(body, fields)) return *e;
  return out;
}

std::string validate_idempotency_key(std::string_view key) {
  if (key.empty() || key.size() > kMaxIdempotencyKeyChars ||
      !std::all_of(key.begin(), key.end(), [](char c) { return c > 0x20 && c < 0x7f; }))
    return fmt::format("Idempotency-Key must be 1-{} visible ASCII characters", kMaxIdempotencyKeyChars);
  return {};
}

}  // namespace wa::app::api
