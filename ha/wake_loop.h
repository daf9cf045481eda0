// The elector's sleep: poll() on the lock sessions' sockets plus a self-pipe that other threads
// write to (post(), stop()), until the earliest timer. One object, owned by the elector's thread;
// wake() is safe from any thread.
#pragma once

#include <poll.h>

#include <chrono>
#include <vector>

namespace wa::ha {

class WakeLoop {
 public:
  using Clock = std::chrono::steady_clock;
  WakeLoop();
  ~WakeLoop();
  WakeLoop(const WakeLoop&) = delete;
  WakeLoop& operator=(const WakeLoop&) = delete;

  // Thread-safe; never blocks.
  void wake();
  // Sleeps until one of `fds` has an event, wake() was called, or `until` passed. Fills the
  // revents of `fds`; returns true when woken through wake().
  bool wait(std::vector<pollfd>& fds, Clock::time_point until);

 private:
  int fds_[2]{-1, -1};
};

}  // namespace wa::ha
