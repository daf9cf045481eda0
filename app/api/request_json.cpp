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
    const auto it =
        std::find_if(fields.begin(), fields.end(), [&](const Field& f) { return f.name == m.key; });
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
    if (fields[i].required && !seen[i])
      return bad(fmt::format("field '{}' is required", fields[i].name), "missing_field");
  return std::nullopt;
}

// A string field checked by `check` (an error sentence, or empty when accepted). Into a
// std::optional<std::string> the field may also be null, which leaves it empty.
template <typename Target>
std::function<std::string(const Json&)> string_into(Target& out,
                                                    std::function<std::string(std::string_view)> check) {
  return [&out, check = std::move(check)](const Json& v) -> std::string {
    if constexpr (std::is_same_v<Target, std::optional<std::string>>)
      if (v.type == Json::Type::null) return {};
    if (v.type != Json::Type::string)
      return fmt::format("must be a string, not {}", binary::to_string(v.type));
    if (auto e = check(v.text); !e.empty()) return e;
    out = v.text;
    return {};
  };
}

// Parses `body` into a fresh Out with the fields `fields_of(out)` names.
template <typename Out>
std::variant<Out, RequestError> parse_into(std::string_view body,
                                           const std::function<std::vector<Field>(Out&)>& fields_of) {
  Out out;
  if (auto e = parse_object(body, fields_of(out))) return *e;
  return out;
}

}  // namespace

std::variant<SendMessageBody, RequestError> parse_send_message(std::string_view body) {
  return parse_into<SendMessageBody>(body, [](SendMessageBody& out) {
    return std::vector<Field>{{"to", true, string_into(out.to, store::validate_recipient)},
                              {"text", true, string_into(out.text, store::validate_text)},
                              {"reply_to", false, string_into(out.reply_to, store::validate_message_id)}};
  });
}

std::variant<RegisterAccountBody, RequestError> parse_register_account(std::string_view body) {
  return parse_into<RegisterAccountBody>(body, [](RegisterAccountBody& out) {
    return std::vector<Field>{
        {"business_id", true, string_into(out.business_id, store::validate_business_id)},
        {"jid", false, string_into(out.jid, store::validate_jid)}};
  });
}

std::variant<PairCodeBody, RequestError> parse_pair_code(std::string_view body) {
  return parse_into<PairCodeBody>(body, [](PairCodeBody& out) {
    return std::vector<Field>{
        {"phone", true,
         [&](const Json& v) -> std::string {
           if (v.type != Json::Type::string)
             return fmt::format("must be a string, not {}", binary::to_string(v.type));
           if (v.text.size() > 32) return "must be at most 32 characters";
           std::string why;
           const auto digits = phone_digits(v.text, &why);
           if (!digits) return why.empty() ? "not a phone number in international form" : why;
           out.phone = *digits;
           return {};
         }},
        {"push", false,
         [&](const Json& v) -> std::string {
           if (v.type != Json::Type::boolean)
             return fmt::format("must be a boolean, not {}", binary::to_string(v.type));
           out.push = v.boolean;
           return {};
         }},
    };
  });
}

std::variant<WebhookBody, RequestError> parse_webhook(std::string_view body) {
  return parse_into<WebhookBody>(body, [](WebhookBody& out) {
    return std::vector<Field>{
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
           if (v.type != Json::Type::array)
             return fmt::format("must be an array, not {}", binary::to_string(v.type));
           if (v.items.empty() || v.items.size() > 8) return "must list 1-8 event types";
           for (const auto& e : v.items) {
             if (e.type != Json::Type::string) return "must hold strings";
             const bool known =
                 e.text == "*" || std::any_of(std::begin(store::kEventTypes), std::end(store::kEventTypes),
                                              [&](const char* t) { return e.text == t; });
             if (!known)
               return "unknown event type; use message.received, message.status, account.status, "
                      "account.leader or *";
             if (std::find(out.events.begin(), out.events.end(), e.text) != out.events.end())
               return "lists a type twice";
             out.events.push_back(e.text);
           }
           return {};
         }},
        {"secret", false, string_into(out.secret, validate_webhook_secret)},
    };
  });
}

std::variant<RotateSecretBody, RequestError> parse_rotate_secret(std::string_view body) {
  if (body.empty()) return RotateSecretBody{};  // all defaults
  return parse_into<RotateSecretBody>(body, [](RotateSecretBody& out) {
    return std::vector<Field>{
        {"secret", false, string_into(out.secret, validate_webhook_secret)},
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
  });
}

std::string validate_idempotency_key(std::string_view key) {
  if (key.empty() || key.size() > kMaxIdempotencyKeyChars ||
      !std::all_of(key.begin(), key.end(), [](char c) { return c > 0x20 && c < 0x7f; }))
    return fmt::format("Idempotency-Key must be 1-{} visible ASCII characters", kMaxIdempotencyKeyChars);
  return {};
}

}  // namespace wa::app::api
