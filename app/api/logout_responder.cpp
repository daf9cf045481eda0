#include "app/api/logout_responder.h"

#include <fcntl.h>
#include <unistd.h>

#include <exception>
#include <thread>

#include "common/log.h"
#include "ha/store_session.h"
#include "store/accounts.h"
#include "store/logout_requests.h"
#include "store/notify.h"
#include "store/pairing.h"
#include "store/pg.h"

namespace wa::app::api {

LogoutResponder::LogoutResponder(std::string database_url, LedAccounts led, Logout logout,
                                 LogoutResponderOptions options)
    : url_(std::move(database_url)), led_(std::move(led)), logout_(std::move(logout)), options_(options) {
  int p[2];
  if (::pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0)
    throw std::runtime_error("logout responder: cannot create a pipe");
  wake_read_ = p[0];
  wake_write_ = p[1];
  thread_ = std::thread([this] { run(); });
}

LogoutResponder::~LogoutResponder() {
  stop();
  ::close(wake_read_);
  ::close(wake_write_);
}

void LogoutResponder::stop() {
  if (!stopping_.exchange(true)) {
    const char b = 1;
    [[maybe_unused]] auto n = ::write(wake_write_, &b, 1);
  }
  if (thread_.joinable()) thread_.join();
}

void LogoutResponder::answer(const std::string& business_id, std::int64_t request_id) {
  // Its own session: the wait below must not hold the listening one.
  auto conn = ha::open_worker_session(url_, "logout", "waconnector/logout");
  std::optional<std::string> failure;
  try {
    logout_(business_id, options_.logout_timeout);
    const auto deadline = std::chrono::steady_clock::now() + options_.logged_out_wait;
    bool reset = false;
    while (!stopping_ && std::chrono::steady_clock::now() < deadline) {
      // reset_logged_out_for_pairing changes nothing until the client recorded the logout.
      if ((reset = store::reset_logged_out_for_pairing(conn, business_id))) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!reset) failure = "the account was not marked logged out in time";
  } catch (const pg::Error&) {
    throw;
  } catch (const std::exception& e) {
    failure = e.what();
  }
  store::finish_logout(conn, business_id, request_id, !failure, failure);
  if (failure)
    log::warn("account_logout_failed")
        .kv("business_id", business_id)
        .kv("request", request_id)
        .kv("error", *failure);
  else
    log::info("account_logout_done").kv("business_id", business_id).kv("request", request_id);
}

void LogoutResponder::run() {
  pg::Connection conn;
  while (!stopping_) {
    try {
      if (!conn.ok()) {
        conn = ha::open_worker_session(url_, "logout responder", "waconnector/logout");
        store::listen(conn, store::kLogoutChannel);
      }
      for (const auto& fence : led_()) {
        if (stopping_) break;
        for (const auto& req : store::pending_logouts(conn, *fence, options_.max_request_age.count()))
          answer(fence->business_id(), req.id);
      }
      store::wait_for_notify(conn, options_.poll_interval, wake_read_);
    } catch (const std::exception& e) {
      log::warn("logout_responder_error").kv("error", e.what());
      conn = pg::Connection();
      char b[8];
      [[maybe_unused]] auto n = ::read(wake_read_, b, sizeof b);
      if (!stopping_) std::this_thread::sleep_for(options_.poll_interval);
    }
  }
}

}  // namespace wa::app::api
