#include "core/client/backoff.h"

#include <algorithm>

namespace wa::client {

ReconnectBackoff::ReconnectBackoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, double jitter,
                                   std::uint64_t seed)
    : initial_(std::max(initial, std::chrono::milliseconds(1))),
      max_(std::max(max, initial_)),
      jitter_(std::clamp(jitter, 0.0, 1.0)),
      rng_(seed) {}

std::chrono::milliseconds ReconnectBackoff::next() {
  // Doubling stops at the cap, so the shift cannot overflow however long the outage lasts.
  double base = static_cast<double>(initial_.count());
  for (int i = 0; i < failures_ && base < static_cast<double>(max_.count()); ++i) base *= 2;
  base = std::min(base, static_cast<double>(max_.count()));
  ++failures_;
  std::uniform_real_distribution<double> d(1.0 - jitter_, 1.0 + jitter_);
  auto ms = static_cast<std::int64_t>(base * d(rng_));
  return std::chrono::milliseconds(std::max<std::int64_t>(ms, 1));
}

}  // namespace wa::client
