#include "ha/notify_worker.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <utility>
#include <vector>

#include "common/log.h"
#include "store/notify.h"

namespace wa::ha {

NotifyWorker::NotifyWorker(std::string database_url, NotifyWorkerOptions options, Round round,
                           std::function<void()> on_down)
    : url_(std::move(database_url)),
      options_(std::move(options)),
      round_(std::move(round)),
      on_down_(std::move(on_down)) {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) throw std::runtime_error(options_.name + ": eventfd: " + std::strerror(errno));
  thread_ = std::thread([this] { run(); });
}

NotifyWorker::~NotifyWorker() {
  stop();
  ::close(wake_fd_);
}

void NotifyWorker::stop() {
  stopping_.store(true);
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
}

pg::Connection NotifyWorker::open_session() const {
  // Keepalives of 1 s x 3: a dead server is noticed within seconds, not after the kernel's hours.
  std::vector<std::pair<std::string, std::string>> params{{"application_name", options_.application_name},
                                                          {"connect_timeout", "5"},
                                                          {"keepalives", "1"},
                                                          {"keepalives_idle", "1"},
                                                          {"keepalives_interval", "1"},
                                                          {"keepalives_count", "3"}};
  if (!options_.session_options.empty()) params.emplace_back("options", options_.session_options);
  auto conn = pg::Connection::open(url_, options_.name, params);
  store::listen(conn, options_.channel);
  return conn;
}

void NotifyWorker::run() {
  pg::Connection conn;
  bool down = false;
  while (!stopping_.load()) {
    try {
      bool round_now = false;
      if (!conn.ok()) {
        conn = open_session();
        if (down) log::info(options_.name + "_reconnected");
        down = false;
        round_now = options_.round_on_connect;
      }
      bool notified = false;
      if (!round_now) {
        notified = store::wait_for_notify(conn, options_.interval, wake_fd_);
        if (stopping_.load()) break;
      }
      round_(conn, notified);
    } catch (const std::exception& e) {
      if (!down) log::warn(options_.name + "_db_error").kv("error", e.what());
      down = true;
      conn.close();
      if (stopping_.load()) break;
      if (on_down_) on_down_();
      pollfd p{wake_fd_, POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(options_.interval.count()));
    }
  }
}

}  // namespace wa::ha
