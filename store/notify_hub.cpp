#include "store/notify_hub.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "common/log.h"
#include "store/notify.h"

namespace wa::store {
namespace {

struct NotifyDeleter {
  void operator()(PGnotify* n) const { PQfreemem(n); }
};

}  // namespace

NotifyHub::Subscription& NotifyHub::Subscription::operator=(Subscription&& o) noexcept {
  if (this != &o) {
    reset();
    hub_ = std::exchange(o.hub_, nullptr);
    id_ = o.id_;
  }
  return *this;
}

void NotifyHub::Subscription::reset() {
  if (hub_) std::exchange(hub_, nullptr)->unsubscribe(id_);
}

NotifyHub::NotifyHub(NotifyHubOptions options) : opt_(std::move(options)) {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) throw std::runtime_error(opt_.name + ": eventfd: " + std::strerror(errno));
  thread_ = std::thread([this] { run(); });
}

NotifyHub::~NotifyHub() {
  stop();
  ::close(wake_fd_);
}

void NotifyHub::wake() {
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
}

void NotifyHub::stop() {
  stopping_.store(true);
  wake();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

NotifyHub::Subscription NotifyHub::subscribe(std::string channel, Handler handler) {
  std::uint64_t id = 0;
  {
    std::lock_guard lk(mu_);
    id = next_id_++;
    wanted_.insert(channel);
    subs_.emplace(id, Sub{std::move(channel), std::move(handler)});
  }
  wake();
  return Subscription(this, id);
}

void NotifyHub::unsubscribe(std::uint64_t id) {
  // A handler running now finishes first; none runs after this returns. The channel stays
  // LISTENed (cheap; a later subscriber reuses it).
  std::lock_guard d(dispatch_mu_);
  std::lock_guard lk(mu_);
  subs_.erase(id);
}

void NotifyHub::dispatch(const Notice& n, bool to_all) {
  std::lock_guard d(dispatch_mu_);
  std::vector<Handler*> targets;
  {
    std::lock_guard lk(mu_);
    for (auto& [id, s] : subs_)
      if (to_all || s.channel == n.channel) targets.push_back(&s.handler);
  }
  // Subscriptions cannot end while dispatch_mu_ is held, so the handlers stay alive.
  for (auto* h : targets) {
    try {
      (*h)(n);
    } catch (const std::exception& e) {
      wa::log::warn(opt_.name + "_handler_failed").kv("channel", n.channel).kv("error", e.what());
    }
  }
}

void NotifyHub::drain(pg::Connection& conn) {
  while (std::unique_ptr<PGnotify, NotifyDeleter> note{PQnotifies(conn.raw())}) {
    notifications_.fetch_add(1);
    dispatch(Notice{note->relname, note->extra ? note->extra : "", false}, false);
  }
}

void NotifyHub::run() {
  pg::Connection conn;
  std::set<std::string> listening;
  bool down = false;
  while (!stopping_.load()) {
    try {
      if (!conn.ok()) {
        connected_.store(false);
        listening.clear();
        conn = pg::Connection::open(opt_.url, opt_.name,
                                    {{"application_name", opt_.application_name},
                                     {"connect_timeout", "5"},
                                     {"keepalives", "1"},
                                     {"keepalives_idle", "1"},
                                     {"keepalives_interval", "1"},
                                     {"keepalives_count", "3"}});
      }
      std::set<std::string> wanted;
      {
        std::lock_guard lk(mu_);
        wanted = wanted_;
      }
      bool added = false;
      for (const auto& ch : wanted)
        if (!listening.count(ch)) {
          listen(conn, ch);
          listening.insert(ch);
          added = true;
        }
      if (!connected_.load()) {
        connected_.store(true);
        if (down) wa::log::info(opt_.name + "_reconnected");
        down = false;
        dispatch(Notice{"", "", true}, true);
      } else if (added) {
        // A subscriber that came while the session ran: its channel was not LISTENed before.
        dispatch(Notice{"", "", true}, true);
      }
      // Notifications that came in with the LISTENs' results are buffered already.
      drain(conn);
      // Wait for a notification or a wake (new subscriber, stop); drain what arrived.
      pollfd p[2] = {{conn.socket(), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      const int n = ::poll(p, 2, 5000);
      if (n < 0 && errno != EINTR) throw pg::Error(fmt::format("{}: poll: {}", opt_.name, std::strerror(errno)), "");
      if (p[1].revents & POLLIN) {
        std::uint64_t v;
        [[maybe_unused]] const auto r = ::read(wake_fd_, &v, sizeof v);
      }
      if (stopping_.load()) break;
      if (PQconsumeInput(conn.raw()) == 0)
        throw pg::Error(fmt::format("{}: {}", opt_.name, PQerrorMessage(conn.raw())), "08006")
            .set_connection_lost(true);
      drain(conn);
    } catch (const std::exception& e) {
      if (!down) wa::log::warn(opt_.name + "_db_error").kv("error", e.what());
      down = true;
      connected_.store(false);
      conn.close();
      if (stopping_.load()) break;
      pollfd p{wake_fd_, POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(opt_.retry.count()));
      if (p.revents & POLLIN) {
        std::uint64_t v;
        [[maybe_unused]] const auto r = ::read(wake_fd_, &v, sizeof v);
      }
    }
  }
  connected_.store(false);
}

}  // namespace wa::store
