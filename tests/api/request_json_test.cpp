// The request body parser alone: what it accepts, and a clear 400 for everything else.
#include <string>
#include <variant>

#include <catch2/catch.hpp>

#include "app/api/auth.h"
#include "app/api/request_json.h"

using namespace wa::app::api;

namespace {

template <typename T>
std::string error_of(const std::variant<T, RequestError>& v) {
  if (const auto* e = std::get_if<RequestError>(&v)) return e->code + ": " + e->message;
  return "";
}

}  // namespace

TEST_CASE("send message body: valid forms", "[api][json]") {
  auto v = parse_send_message(R"({"to":"15551234567@s.whatsapp.net","text":"hi \u00e9"})");
  REQUIRE(std::holds_alternative<SendMessageBody>(v));
  CHECK(std::get<SendMessageBody>(v).to == "15551234567@s.whatsapp.net");
  CHECK(std::get<SendMessageBody>(v).text == "hi \xc3\xa9");
  CHECK_FALSE(std::get<SendMessageBody>(v).reply_to);
  v = parse_send_message(R"( {"text":"x","to":"120363012345678901@g.us","reply_to":"3EB0ABC"} )");
  REQUIRE(std::holds_alternative<SendMessageBody>(v));
  CHECK(std::get<SendMessageBody>(v).reply_to == std::optional<std::string>("3EB0ABC"));
}

TEST_CASE("send message body: every refusal names the problem", "[api][json]") {
  CHECK(error_of(parse_send_message("")).rfind("malformed_json: request body is empty", 0) == 0);
  CHECK(error_of(parse_send_message("{")).rfind("malformed_json: request body is not valid JSON", 0) == 0);
  CHECK(error_of(parse_send_message("[]")).find("must be a JSON object, not array") != std::string::npos);
  CHECK(error_of(parse_send_message(R"({"to":"1@s.whatsapp.net"})")) == "missing_field: field 'text' is required");
  CHECK(error_of(parse_send_message(R"({"to":5,"text":"x"})")) == "invalid_field: to: must be a string, not number");
  CHECK(error_of(parse_send_message(R"({"to":"bob","text":"x"})")).rfind("invalid_field: to: recipient must be a JID", 0) == 0);
  CHECK(error_of(parse_send_message(R"({"to":"1@s.whatsapp.net","text":""})")) == "invalid_field: text: text is empty");
  CHECK(error_of(parse_send_message(R"({"to":"1@s.whatsapp.net","text":"x","extra":1})")) ==
        "unknown_field: unknown field 'extra'");
  CHECK(error_of(parse_send_message(R"({"to":"1@s.whatsapp.net","text":"x","text":"y"})")) ==
        "invalid_field: field 'text' appears twice");
  const std::string long_text(65537, 'a');
  CHECK(error_of(parse_send_message(R"({"to":"1@s.whatsapp.net","text":")" + long_text + "\"}"))
            .find("the limit is 65536") != std::string::npos);
  // Deep nesting is cut off by the parser's limits, not the stack.
  CHECK(error_of(parse_send_message(std::string(100000, '['))).rfind("malformed_json", 0) == 0);
}

TEST_CASE("register account and pair-code bodies", "[api][json]") {
  auto a = parse_register_account(R"({"business_id":"shop-1","jid":null})");
  REQUIRE(std::holds_alternative<RegisterAccountBody>(a));
  CHECK(std::get<RegisterAccountBody>(a).business_id == "shop-1");
  CHECK(error_of(parse_register_account(R"({"business_id":"bad id"})")).rfind("invalid_field: business_id:", 0) == 0);
  auto p = parse_pair_code(R"({"phone":"+1 555 123 4567","push":false})");
  REQUIRE(std::holds_alternative<PairCodeBody>(p));
  CHECK(std::get<PairCodeBody>(p).phone == "15551234567");
  CHECK_FALSE(std::get<PairCodeBody>(p).push);
  CHECK(error_of(parse_pair_code(R"({"phone":"abc"})")).rfind("invalid_field: phone:", 0) == 0);
  CHECK(error_of(parse_pair_code(R"({"phone":"15551234567","push":"yes"})")) ==
        "invalid_field: push: must be a boolean, not string");
}

TEST_CASE("idempotency keys and bearer headers", "[api][json]") {
  CHECK(validate_idempotency_key("order-42").empty());
  CHECK_FALSE(validate_idempotency_key("").empty());
  CHECK_FALSE(validate_idempotency_key("has space").empty());
  CHECK_FALSE(validate_idempotency_key(std::string(256, 'k')).empty());
  CHECK(validate_idempotency_key(std::string(255, 'k')).empty());
  CHECK(bearer_token("Bearer abc") == std::optional<std::string_view>("abc"));
  CHECK(bearer_token("bearer   abc ") == std::optional<std::string_view>("abc"));
  CHECK_FALSE(bearer_token("Basic abc"));
  CHECK_FALSE(bearer_token("Bearer"));
  CHECK_FALSE(bearer_token("Bearerabc"));
}
