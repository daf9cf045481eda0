#include "app/api/logout_responder.h"

#include <exception>

#include "common/log.h"
#include "store/accounts.h"
#include "store/connection_pool.h"
#include "store/logout_requests.h"
#include "store/notify.h"
#include "store/pairing.h"
#include "store/pg.h"

namespace wa::app::api {

LogoutResponder::LogoutResponder(store::NotifyHub& hub, std::shared_ptr<store::ConnectionPool> pool, LedAccounts led,
                                 Logout logout, LogoutResponderOptions options)
    : led_(std::move(led)),
      logout_(std::move(logout)),
      options_(options),
      worker_(hub, std::move(pool), {"logout_responder", std::string(store::kLogoutChannel), options_.poll_interval, true},
              [this](store::ConnectionPool& p, bool) { round(p); }) {}

void LogoutResponder::answer(store::ConnectionPool& pool, const std::string& business_id, std::int64_t request_id) {
  // No pooled connection is held while the client logs out or while we wait for it.
  std::optional<std::string> failure;
  try {
    logout_(business_id, options_.logout_timeout);
    const auto deadline = std::chrono::steady_clock::now() + options_.logged_out_wait;
    bool reset = false;
    while (!worker_.stopping() && std::chrono::steady_clock::now() < deadline) {
      // reset_logged_out_for_pairing changes nothing until the client recorded the logout.
      if ((reset = pool.with([&](pg::Connection& c) { return store::reset_logged_out_for_pairing(c, business_id); })))
        break;
      worker_.sleep_for(std::chrono::milliseconds(100));
    }
    if (!reset) failure = "the account was not marked logged out in time";
  } catch (const pg::Error&) {
    throw;
  } catch (const std::exception& e) {
    failure = e.what();
  }
  pool.with([&](pg::Connection& c) { store::finish_logout(c, business_id, request_id, !failure, failure); });
  if (failure)
    log::warn("account_logout_failed")
        .kv("business_id", business_id)
        .kv("request", request_id)
        .kv("error", *failure);
  else
    log::info("account_logout_done").kv("business_id", business_id).kv("request", request_id);
}

void LogoutResponder::round(store::ConnectionPool& pool) {
  // One statement for every account this pod leads (issue 10: not one per account per tick).
  std::vector<std::string> ids;
  for (const auto& fence : led_())
    if (fence && !fence->revoked()) ids.push_back(fence->business_id());
  if (ids.empty()) return;
  const auto pending =
      pool.with([&](pg::Connection& c) { return store::pending_logouts(c, ids, options_.max_request_age.count()); });
  for (const auto& req : pending) {
    if (worker_.stopping()) break;
    answer(pool, req.business_id, req.id);
  }
}

}  // namespace wa::app::api
