// Crash takeover at the physical limit in poll mode, with one session per peer instead of one per
// account: each pod's liveness session also holds its "peer watch" lock (store/advisory_lock.h),
// and this pod keeps one session per live peer blocked in pg_advisory_lock_shared on that lock.
// When the peer's process dies, the kernel closes its sockets, the server ends its sessions and
// grants every waiter at once; the waiter's statement releases the lock again in the same
// statement, and the elector runs a try-lock tick right away instead of at its next poll.
//
// A waiter is only queued while the peer holds its lock (checked in the same statement), so a
// peer that is already gone answers "not waiting" at once and is not waited for again until the
// live set lists it again. Owned and driven by the elector's thread.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <poll.h>

#include "ha/db_retry.h"
#include "ha/lock_session.h"

namespace wa::ha {

class PeerWaiters {
 public:
  // `settings`: the lock sessions' (keepalives); lock_timeout and idle_session_timeout are turned
  // off here, a waiter sits in its statement for as long as the peer lives.
  PeerWaiters(SessionSettings settings, std::string pod);

  // Waits on every pod in `peers` that has no waiter yet (and drops waiters of pods not listed).
  // A waiter that finished is only queued again when `fresh` (the live set was just read again),
  // so a peer without its lock is asked once per re-list, not on every loop. Opening is
  // synchronous (connect); failures are retried on a later call.
  void sync(const std::vector<std::string>& peers, bool fresh);
  // Appends the waiters' sockets; call collect() with the same vector after poll().
  void add_fds(std::vector<pollfd>& fds);
  // Pods whose waiter was granted (their liveness session ended) since the last call. A waiter
  // whose session fails is dropped quietly and reopened by the next sync().
  std::vector<std::string> collect(const std::vector<pollfd>& fds);
  std::size_t sessions() const;
  void close_all();

 private:
  struct Waiter {
    LockSession s;
    bool waiting = false;
  };
  SessionSettings settings_;
  std::string pod_;
  std::map<std::string, Waiter> waiters_;
  std::vector<std::string> polled_;  // pods in add_fds() order
  std::size_t first_fd_ = 0;
  SteadyClock::time_point next_open_{};
};

}  // namespace wa::ha
