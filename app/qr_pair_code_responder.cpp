#include "app/qr_pair_code_responder.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <string_view>
#include <stdexcept>

#include <fmt/format.h>

#include "app/qr_store.h"
#include "common/log.h"
#include "common/mask.h"
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

PairCodeResponder::WakeFd::WakeFd() : fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (fd < 0) throw std::runtime_error(fmt::format("pair-code responder: eventfd: {}", std::strerror(errno)));
}

PairCodeResponder::WakeFd::~WakeFd() {
  if (fd >= 0) ::close(fd);
}

PairCodeResponder::PairCodeResponder(std::string database_url, std::string pod, LedAccounts led, RequestCode request,
                                     PairCodeResponderOptions options)
    : url_(std::move(database_url)),
      pod_(std::move(pod)),
      led_(std::move(led)),
      request_(std::move(request)),
      options_(options) {
  thread_ = std::thread([this] { run(); });
}

PairCodeResponder::~PairCodeResponder() { stop(); }

void PairCodeResponder::stop() {
  stopping_.store(true);
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(wake_.fd, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
}

void PairCodeResponder::run() {
  pg::Connection conn;
  bool logged_down = false;
  while (!stopping_.load()) {
    try {
      if (!conn.ok()) {
        conn = pg::Connection::open(url_, "pair-code responder",
                                    {{"application_name", "waconnector/pair-code"}, {"connect_timeout", "5"}});
        conn.exec_simple("listen for pair-code requests", "LISTEN wa_pair_code_request");
        if (logged_down) log::info("pair_code_responder_reconnected");
        logged_down = false;
      }
      const auto led = led_();
      for (const auto& q : pending_pair_code_requests(conn, led, options_.max_request_age.count())) {
        if (stopping_.load()) break;
        std::string code;
        std::string error;
        try {
          code = request_(q.business_id, q.phone, q.show_push_notification);
        } catch (const std::exception& e) {
          error = e.what();
          if (error.empty()) error = "pair code request failed";
        }
        // The code is stored without the display dash; anything else is not a linking code.
        std::erase(code, '-');
        if (error.empty() && !valid_linking_code(code)) error = "the client returned a malformed pair code";
        if (error.empty()) {
          if (answer_pair_code_request(conn, q.id, pod_, code)) {
            answered_.fetch_add(1);
            log::info("pair_code_answered").kv("business_id", q.business_id).kv("request", q.id)
                .kv("phone", mask_phone("+" + q.phone));
          }
        } else {
          if (fail_pair_code_request(conn, q.id, pod_, error)) failed_.fetch_add(1);
          log::warn("pair_code_failed").kv("business_id", q.business_id).kv("request", q.id).kv("error", error);
        }
      }
      wait_for_notify(conn, options_.poll_interval, wake_.fd);
    } catch (const std::exception& e) {
      if (!logged_down) log::warn("pair_code_responder_db_error").kv("error", e.what());
      logged_down = true;
      conn.close();
      pollfd p{wake_.fd, POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(options_.poll_interval.count()));
    }
  }
}

}  // namespace wa::app
