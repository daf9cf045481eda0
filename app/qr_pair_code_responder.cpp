#include "app/qr_pair_code_responder.h"

#include <exception>
#include <map>
#include <string_view>

#include "common/log.h"
#include "common/mask.h"
#include "store/errors.h"
#include "store/notify.h"
#include "store/pairing.h"
#include "store/pg.h"

namespace wa::app {
namespace {

// 8 characters of the linking-code alphabet (transport reference §6.6; the table's CHECK too).
bool valid_linking_code(const std::string& code) {
  constexpr std::string_view kAlphabet = "123456789ABCDEFGHJKLMNPQRSTVWXYZ";
  if (code.size() != 8) return false;
  for (char c : code)
    if (kAlphabet.find(c) == std::string_view::npos) return false;
  return true;
}

}  // namespace

PairCodeResponder::PairCodeResponder(store::NotifyHub& hub, std::shared_ptr<store::ConnectionPool> pool,
                                     std::string pod, LedAccounts led, RequestCode request,
                                     PairCodeResponderOptions options)
    : pod_(std::move(pod)),
      led_(std::move(led)),
      request_(std::move(request)),
      options_(options),
      worker_(hub, std::move(pool),
              {"pair_code_responder", std::string(store::kPairCodeRequestChannel), options_.poll_interval, true},
              [this](store::ConnectionPool& pool, bool) { answer_pending(pool); }) {}

void PairCodeResponder::answer_pending(store::ConnectionPool& pool) {
  std::map<std::string, std::shared_ptr<const store::WriteFence>> led;
  for (auto& f : led_())
    if (f && !f->revoked()) led.emplace(f->business_id(), std::move(f));
  std::vector<std::string> ids;
  for (const auto& [id, f] : led) ids.push_back(id);
  const auto pending = pool.with([&](pg::Connection& conn) {
    return store::pending_pair_code_requests(conn, ids, options_.max_request_age.count());
  });
  for (const auto& q : pending) {
    if (worker_.stopping()) break;
    const auto& fence = *led.at(q.business_id);
    if (fence.revoked()) continue;
    std::string code;
    std::string error;
    if (q.expired) {
      error = "expired before a leader answered";
    } else {
      try {
        code = request_(q.business_id, q.phone, q.show_push_notification);
      } catch (const std::exception& e) {
        error = e.what();
        if (error.empty()) error = "pair code request failed";
      }
      // The code is stored without the display dash; anything else is not a linking code.
      std::erase(code, '-');
      if (error.empty() && !valid_linking_code(code)) error = "the client returned a malformed pair code";
    }
    try {
      // The client call above ran without a pooled connection; the answer borrows one.
      auto lent = pool.acquire();
      auto& conn = lent.conn();
      if (error.empty()) {
        if (store::answer_pair_code_request(conn, fence, q.id, pod_, code)) {
          answered_.fetch_add(1);
          log::info("pair_code_answered").kv("business_id", q.business_id).kv("request", q.id)
              .kv("phone", mask_phone("+" + q.phone));
        }
      } else {
        if (store::fail_pair_code_request(conn, fence, q.id, pod_, error)) failed_.fetch_add(1);
        log::warn("pair_code_failed").kv("business_id", q.business_id).kv("request", q.id).kv("error", error);
      }
    } catch (const store::EpochMoved& e) {
      // Another pod leads the account now: its responder serves the request.
      refused_.fetch_add(1);
      log::warn("pair_code_answer_refused").kv("business_id", q.business_id).kv("request", q.id)
          .kv("error", e.what());
    }
  }
}

}  // namespace wa::app
