// Liveness watchdog: the main loop calls beat() every iteration; /health reports 503 once no
// beat has arrived for `stall_after`, so Kubernetes restarts a pod whose loop is stuck (deadlock,
// blocked syscall) instead of one that is merely busy waiting for the database.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>

namespace wa::app {

class Watchdog {
 public:
  using Clock = std::chrono::steady_clock;
  // `now` is injectable so tests can move time without sleeping.
  explicit Watchdog(std::chrono::milliseconds stall_after,
                    std::function<Clock::time_point()> now = [] { return Clock::now(); });

  void beat();                                  // thread-safe, lock-free
  bool stalled() const;                         // no beat for longer than stall_after
  std::chrono::milliseconds since_last_beat() const;
  std::chrono::milliseconds stall_after() const { return stall_after_; }

 private:
  std::chrono::milliseconds stall_after_;
  std::function<Clock::time_point()> now_;
  std::atomic<std::int64_t> last_beat_ns_;
};

}  // namespace wa::app
