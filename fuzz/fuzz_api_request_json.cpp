// The API's request body parsers (app/api/request_json.h), webhook registration included, on arbitrary bytes: every input is
// either accepted with fields that pass their own checks, or refused with a 400 and a message;
// never a crash, a hang or unbounded memory (size, depth and item limits).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

#include "app/api/request_json.h"
#include "app/api/webhook_sign.h"
#include "store/accounts.h"
#include "store/outbox.h"

using namespace wa::app::api;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto send = parse_send_message(in);
  if (const auto* m = std::get_if<SendMessageBody>(&send)) {
    // What is accepted must be what the store accepts.
    if (!wa::store::validate_recipient(m->to).empty() || !wa::store::validate_text(m->text).empty()) std::abort();
  } else if (std::get<RequestError>(send).status != 400 || std::get<RequestError>(send).message.empty()) {
    std::abort();
  }
  const auto reg = parse_register_account(in);
  if (const auto* r = std::get_if<RegisterAccountBody>(&reg))
    if (!wa::store::validate_business_id(r->business_id).empty()) std::abort();
  const auto pc = parse_pair_code(in);
  if (const auto* p = std::get_if<PairCodeBody>(&pc))
    if (p->phone.empty()) std::abort();
  const auto hook = parse_webhook(in);
  if (const auto* h = std::get_if<WebhookBody>(&hook))
    if (h->events.empty() || h->url.empty()) std::abort();
  const auto rot = parse_rotate_secret(in);
  if (const auto* r = std::get_if<RotateSecretBody>(&rot))
    if (r->overlap_seconds < 0 || r->overlap_seconds > kMaxRotationOverlapSeconds ||
        (r->secret && !validate_webhook_secret(*r->secret).empty()))
      std::abort();
  (void)validate_idempotency_key(in);
  return 0;
}
