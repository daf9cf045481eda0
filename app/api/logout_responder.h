// The leader's half of DELETE /v1/accounts/{id}/session: a thread in `waconnector run` that
// answers the log-out requests (store/logout_requests.h) of the accounts this pod leads, as the
// pair-code requests are answered. For each: the account's connection sends the logout to
// WhatsApp (core::Connection::logout); the server removes the device and ends the stream, the
// client gives up as logged_out (its device store marks the credentials unusable and the account
// logged_out); then the account is reset for pairing as `accounts pair --relink` does (the old
// device's keys deleted, status disconnected): a leader starts again and shows a new QR.
// Woken by NOTIFY on store::kLogoutChannel, polling as well; reconnects after database errors.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

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

  LogoutResponder(std::string database_url, LedAccounts led, Logout logout, LogoutResponderOptions options = {});
  ~LogoutResponder();  // stop()
  LogoutResponder(const LogoutResponder&) = delete;
  LogoutResponder& operator=(const LogoutResponder&) = delete;
  void stop();  // wakes and joins the thread; idempotent

 private:
  void run();
  void answer(const std::string& business_id, std::int64_t request_id);

  std::string url_;
  LedAccounts led_;
  Logout logout_;
  LogoutResponderOptions options_;
  int wake_read_ = -1, wake_write_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace wa::app::api
