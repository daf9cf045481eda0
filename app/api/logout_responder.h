// The leader's half of DELETE /v1/accounts/{id}/session: a thread in `waconnector run` that
// answers the log-out requests (store/logout_requests.h) of the accounts this pod leads, as the
// pair-code requests are answered. For each: the account's connection sends the logout to
// WhatsApp (core::Connection::logout); the server removes the device and ends the stream, the
// client gives up as logged_out (its device store marks the credentials unusable and the account
// logged_out); then the account is reset for pairing as `accounts pair --relink` does (the old
// device's keys deleted, status disconnected): a leader starts again and shows a new QR.
// Woken through the pod's notify hub on store::kLogoutChannel, polling as well (ha::NotifyWorker);
// connections come from the pod's store pool, one statement at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ha/notify_worker.h"
#include "store/fenced_write.h"

namespace wa::app::api {

struct LogoutResponderOptions {
  std::chrono::milliseconds poll_interval{1000};
  std::chrono::milliseconds max_request_age{60000};   // older pending requests fail
  std::chrono::milliseconds logout_timeout{10000};    // the server's answer
  std::chrono::milliseconds logged_out_wait{15000};   // until the account shows logged_out
};

class LogoutResponder {
 public:
  using LedAccounts = std::function<std::vector<std::shared_ptr<const store::WriteFence>>()>;
  // Sends the logout on the account's connection; throws with the reason when it cannot.
  using Logout = std::function<void(const std::string& business_id, std::chrono::milliseconds timeout)>;

  LogoutResponder(store::NotifyHub& hub, std::shared_ptr<store::ConnectionPool> pool, LedAccounts led, Logout logout,
                  LogoutResponderOptions options = {});
  // Not copyable (the worker is not); destruction stops the worker first (declared last).
  void stop() { worker_.stop(); }  // wakes and joins the thread; idempotent

 private:
  void round(store::ConnectionPool& pool);
  void answer(store::ConnectionPool& pool, const std::string& business_id, std::int64_t request_id);

  LedAccounts led_;
  Logout logout_;
  LogoutResponderOptions options_;
  ha::NotifyWorker worker_;  // last: its thread uses the members above
};

}  // namespace wa::app::api
