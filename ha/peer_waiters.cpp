#include "ha/peer_waiters.h"

#include <algorithm>

#include <fmt/format.h>

#include "common/log.h"
#include "store/advisory_lock.h"

namespace wa::ha {

PeerWaiters::PeerWaiters(SessionSettings settings, std::string pod)
    : settings_(std::move(settings)), pod_(std::move(pod)) {
  settings_.lock_timeout_ms = 0;
  settings_.server_idle_session_timeout_ms = 0;
  // The backend notices a vanished client while it waits and leaves the queue.
  settings_.client_connection_check_interval_ms = 1000;
  settings_.application_name = fmt::format("waconnector/{}/peer", pod_);
}

void PeerWaiters::sync(const std::vector<std::string>& peers, bool fresh) {
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    const bool listed = std::find(peers.begin(), peers.end(), it->first) != peers.end();
    if (listed && (it->second.s.valid() || !fresh)) {
      ++it;
      continue;
    }
    if (it->second.s.busy()) it->second.s.cancel();
    it->second.s.close();
    it = waiters_.erase(it);
  }
  const auto now = SteadyClock::now();
  for (const auto& peer : peers) {
    if (peer == pod_ || waiters_.count(peer) || now < next_open_) continue;
    Waiter w;
    try {
      auto s = settings_;
      s.purpose = fmt::format("waiter on pod {}'s liveness", peer);
      w.s = LockSession::open(s);
      w.s.send(s.purpose, store::kWaitPeerSql, {store::kPeerWatchLockClass, peer});
      w.waiting = true;
      waiters_.emplace(peer, std::move(w));
    } catch (const std::exception& ex) {
      // The lock session's own retries report the database; try again a little later.
      next_open_ = now + std::chrono::milliseconds(1000);
      wa::log::warn("peer_waiter_unavailable").kv("peer", peer).kv("error", ex.what());
      return;
    }
  }
}

void PeerWaiters::add_fds(std::vector<pollfd>& fds) {
  first_fd_ = fds.size();
  polled_.clear();
  for (auto& [peer, w] : waiters_)
    if (w.s.valid() && w.waiting) {
      fds.push_back({w.s.socket(), POLLIN, 0});
      polled_.push_back(peer);
    }
}

std::vector<std::string> PeerWaiters::collect(const std::vector<pollfd>& fds) {
  std::vector<std::string> gone;
  for (std::size_t i = 0; i < polled_.size() && first_fd_ + i < fds.size(); ++i) {
    if (fds[first_fd_ + i].revents == 0) continue;
    auto it = waiters_.find(polled_[i]);
    if (it == waiters_.end() || !it->second.s.valid()) continue;
    try {
      auto r = it->second.s.collect();
      if (!r) continue;
      it->second.waiting = false;
      it->second.s.close();
      // true: the peer held its lock when we queued and has let it go (its session ended). The
      // entry goes, so the next sync() that lists the peer live again (a restart) waits at once.
      if (r->rows() > 0 && r->boolean(0, 0)) {
        gone.push_back(it->first);
        waiters_.erase(it);
      }
      // false: it did not hold its lock; asked again on the next fresh sync() only.
    } catch (const std::exception& ex) {
      wa::log::warn("peer_waiter_lost").kv("peer", it->first).kv("error", ex.what());
      it->second.s.close();
    }
  }
  polled_.clear();
  return gone;
}

std::size_t PeerWaiters::sessions() const {
  std::size_t n = 0;
  for (auto& [p, w] : waiters_) n += w.s.valid() ? 1 : 0;
  return n;
}

void PeerWaiters::close_all() {
  for (auto& [p, w] : waiters_) {
    if (w.s.busy()) w.s.cancel();
    w.s.close();
  }
  waiters_.clear();
}

}  // namespace wa::ha
