#include "ha/outbox_dispatcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "common/log.h"
#include "store/notify.h"
#include "store/pg.h"

namespace wa::ha {

OutboxDispatcher::OutboxDispatcher(std::string database_url, LedConnections led, OutboxDispatcherOptions options)
    : url_(std::move(database_url)), led_(std::move(led)), options_(options) {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) throw std::runtime_error(std::string("outbox dispatcher: eventfd: ") + std::strerror(errno));
  thread_ = std::thread([this] { run(); });
}

OutboxDispatcher::~OutboxDispatcher() {
  stop();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void OutboxDispatcher::stop() {
  stopping_.store(true);
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
}

void OutboxDispatcher::wake_all() {
  rounds_.fetch_add(1);
  for (const auto& c : led_())
    if (c && c->state() == core::ConnectionState::logged_in) c->outbox_ready();
}

void OutboxDispatcher::run() {
  pg::Connection conn;
  bool logged_down = false;
  while (!stopping_.load()) {
    try {
      if (!conn.ok()) {
        conn = pg::Connection::open(url_, "outbox dispatcher",
                                    {{"application_name", "waconnector/outbox"},
                                     {"connect_timeout", "5"},
                                     {"keepalives", "1"},
                                     {"keepalives_idle", "1"},
                                     {"keepalives_interval", "1"},
                                     {"keepalives_count", "3"}});
        store::listen(conn, store::kOutboxChannel);
        if (logged_down) log::info("outbox_dispatcher_reconnected");
        logged_down = false;
      }
      // Also a sweep when nothing arrived: rows queued while we were not listening.
      if (store::wait_for_notify(conn, options_.sweep_interval, wake_fd_)) notifications_.fetch_add(1);
      if (stopping_.load()) break;
      wake_all();
    } catch (const std::exception& e) {
      if (!logged_down) log::warn("outbox_dispatcher_db_error").kv("error", e.what());
      logged_down = true;
      conn.close();
      if (stopping_.load()) break;
      wake_all();
      pollfd p{wake_fd_, POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(options_.sweep_interval.count()));
    }
  }
}

}  // namespace wa::ha
