#include "app/watchdog.h"

#include <utility>

namespace wa::app {
namespace {
std::int64_t to_ns(Watchdog::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
}  // namespace

Watchdog::Watchdog(std::chrono::milliseconds stall_after, std::function<Clock::time_point()> now)
    : stall_after_(stall_after), now_(std::move(now)), last_beat_ns_(to_ns(now_())) {}

void Watchdog::beat() { last_beat_ns_.store(to_ns(now_()), std::memory_order_relaxed); }

std::chrono::milliseconds Watchdog::since_last_beat() const {
  const auto d = to_ns(now_()) - last_beat_ns_.load(std::memory_order_relaxed);
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::nanoseconds(d < 0 ? 0 : d));
}

bool Watchdog::stalled() const { return since_last_beat() > stall_after_; }

}  // namespace wa::app
