#include "ha/session_watch.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#include "common/log.h"

namespace wa::ha {

SessionWatch::SessionWatch(SessionSettings liveness_session, std::string pod,
                           std::chrono::milliseconds ping_every, Callbacks cb)
    : pod_(std::move(pod)),
      settings_(std::move(liveness_session)),
      cb_(std::move(cb)),
      retry_(std::chrono::milliseconds(30000), std::random_device{}()),
      ping_every_(ping_every) {
  if (pipe2(pipe_, O_NONBLOCK | O_CLOEXEC) != 0)
    throw std::runtime_error("session watch: cannot create wake pipe");
  thread_ = std::thread([this] { run(); });
}

SessionWatch::~SessionWatch() {
  stop_ = true;
  wake();
  thread_.join();
  for (auto& [id, fd] : fds_) close(fd);
  close(pipe_[0]);
  close(pipe_[1]);
}

void SessionWatch::wake() {
  const char b = 1;
  [[maybe_unused]] auto n = write(pipe_[1], &b, 1);
}

void SessionWatch::watch(int watch_id, int fd) {
  if (fd < 0) return;
  const int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (d < 0) return;
  {
    std::lock_guard lk(mu_);
    if (auto it = fds_.find(watch_id); it != fds_.end()) close(it->second);
    fds_[watch_id] = d;
  }
  wake();
}

void SessionWatch::unwatch(int watch_id) {
  {
    std::lock_guard lk(mu_);
    auto it = fds_.find(watch_id);
    if (it == fds_.end()) return;
    // Closing our dup while the thread polls it is harmless: poll() reports POLLNVAL for a closed
    // fd or nothing at all, and the thread looks the id up again under the lock before acting.
    close(it->second);
    fds_.erase(it);
  }
  wake();
}

void SessionWatch::retry_now() {
  if (alive_.load()) return;
  retry_now_ = true;
  wake();
}

void SessionWatch::announce(const store::LeaderNotice& n) {
  {
    std::lock_guard lk(mu_);
    outbox_.push_back(store::notice_payload(n));
  }
  wake();
}

bool SessionWatch::ensure_liveness() {
  if (live_.ok()) return true;
  if (std::chrono::steady_clock::now() < next_attempt_ && !retry_now_.exchange(false)) return false;
  // Until it works again: fast first retries, then backoff (ha/db_retry.h).
  next_attempt_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  try {
    auto s = settings_;
    s.application_name = fmt::format("waconnector/{}/live", pod_);
    s.purpose = fmt::format("liveness session of pod {}", pod_);
    live_ = LockSession::open(s);
    if (!store::try_liveness_lock(live_.conn(), pod_)) {
      // A restarted pod may meet its old session still ending, or a peer's waiter holding the
      // lock for a moment: retry quickly a few times before calling it a second process.
      if (++taken_tries_ <= 10) {
        live_.close();
        next_attempt_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
        return false;
      }
      if (!warned_taken_)
        wa::log::error("liveness_lock_taken")
            .kv("message",
                "another session holds this pod's liveness lock: a second process with the same --pod name? "
                "this pod competes for nothing until it is free");
      warned_taken_ = true;
      live_.close();
      return false;
    }
    warned_taken_ = false;
    taken_tries_ = 0;
    watch_lock_held_ = store::try_liveness_lock(live_.conn(), pod_, store::kPeerWatchLockClass);
    watch_lock_in_flight_ = false;
    store::listen(live_.conn(), store::kLeaderChannel);
    alive_ = true;
    retry_.reset();
    wa::log::info("liveness_lock_taken").kv("backend_pid", live_.backend_pid());
    if (std::exchange(failed_before_, false) && cb_.on_database_back) cb_.on_database_back();
    return true;
  } catch (const std::exception& ex) {
    live_.close();
    failed_before_ = true;
    const auto delay = retry_.next(ex.what());
    next_attempt_ = std::chrono::steady_clock::now() + delay;
    wa::log::warn("liveness_session_unavailable")
        .kv("error", ex.what())
        .kv("retry_in_ms", static_cast<std::int64_t>(delay.count()));
    return false;
  }
}

void SessionWatch::run() {
  using Clock = std::chrono::steady_clock;
  std::vector<std::string> pending;  // notices not sent yet (one statement at a time)
  while (!stop_.load()) {
    ensure_liveness();
    std::vector<pollfd> fds{{pipe_[0], POLLIN, 0}};
    std::vector<int> ids;
    {
      std::lock_guard lk(mu_);
      for (auto& p : outbox_) pending.push_back(std::move(p));
      outbox_.clear();
      for (auto& [id, fd] : fds_) {
        fds.push_back({fd, POLLRDHUP, 0});
        ids.push_back(id);
      }
    }
    bool lost_live = false;
    // One asynchronous statement at a time on the liveness session: a notice, else a ping. It
    // never blocks this thread, whatever the database does.
    if (live_.ok() && !live_.busy()) {
      try {
        if (!pending.empty()) {
          live_.send("announce to standbys", store::kNotifySql,
                     {std::string(store::kLeaderChannel), pending.front()});
          in_flight_notice_ = pending.front();
          pending.erase(pending.begin());
        } else if (Clock::now() >= next_ping_ && !watch_lock_held_) {
          live_.send("take the peer-watch lock", store::kTryLivenessLockSql,
                     {store::kPeerWatchLockClass, pod_});
          watch_lock_in_flight_ = true;
          next_ping_ = Clock::now() + ping_every_;
        } else if (Clock::now() >= next_ping_) {
          live_.send("liveness keepalive", "SELECT 1");
          next_ping_ = Clock::now() + ping_every_;
        }
      } catch (const std::exception& ex) {
        wa::log::error("liveness_session_lost").kv("error", ex.what());
        lost_live = true;
      }
    } else if (!live_.ok() && pending.size() > 64) {
      wa::log::warn("notice_not_sent")
          .kv("count", static_cast<std::int64_t>(pending.size()))
          .kv("error", "no liveness session");
      pending.clear();
    }
    const std::size_t live_index = fds.size();
    if (live_.ok()) fds.push_back({live_.socket(), POLLIN, 0});
    int timeout_ms = live_.ok() && !live_.busy() && !pending.empty() ? 0 : 100;
    if (!live_.ok()) {
      const auto until =
          std::chrono::duration_cast<std::chrono::milliseconds>(next_attempt_ - Clock::now()).count();
      timeout_ms = static_cast<int>(std::clamp<std::int64_t>(until, 0, timeout_ms));
    }
    if (!lost_live) ::poll(fds.data(), fds.size(), timeout_ms);
    if (fds[0].revents) {
      char buf[64];
      while (read(pipe_[0], buf, sizeof buf) > 0) {
      }
    }
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if ((fds[i + 1].revents & (POLLRDHUP | POLLHUP | POLLERR)) == 0) continue;
      {
        std::lock_guard lk(mu_);
        auto it = fds_.find(ids[i]);
        if (it == fds_.end() || it->second != fds[i + 1].fd) continue;  // unwatched meanwhile
        close(it->second);
        fds_.erase(it);
      }
      cb_.on_lost(ids[i]);
    }
    if (!lost_live && live_.ok() && live_index < fds.size() && fds[live_index].revents) {
      try {
        auto r = live_.collect();
        if (r && std::exchange(watch_lock_in_flight_, false) && r->rows() > 0 && r->boolean(0, 0)) {
          watch_lock_held_ = true;
          wa::log::info("peer_watch_lock_taken");
        }
        if (!live_.busy()) in_flight_notice_.clear();
        for (const auto& p : live_.take_payloads()) {
          if (cb_.on_any_notice) cb_.on_any_notice();
          if (auto n = store::parse_notice(p)) cb_.on_notice(*n);
        }
      } catch (const std::exception& ex) {
        lost_live = true;
        wa::log::error("liveness_session_lost").kv("error", ex.what());
      }
    }
    if (lost_live || (live_.valid() && !live_.ok())) {
      if (!in_flight_notice_.empty()) pending.insert(pending.begin(), in_flight_notice_);
      in_flight_notice_.clear();
      live_.close();
      watch_lock_held_ = false;
      watch_lock_in_flight_ = false;
      failed_before_ = true;
      // A session that was lost is retried at once (a restarted server is back within ~150 ms).
      retry_.reset();
      next_attempt_ = Clock::now() + retry_.next({});
      if (alive_.exchange(false)) cb_.on_liveness_lost();
    }
  }
  live_.close();
  alive_ = false;
}

}  // namespace wa::ha
