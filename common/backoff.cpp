#include "common/backoff.h"

#include <algorithm>

namespace wa {

using std::chrono::milliseconds;

milliseconds jittered(milliseconds base, double fraction, std::mt19937_64& rng) {
  if (fraction <= 0 || base.count() <= 0) return std::max(base, milliseconds(1));
  std::uniform_real_distribution<double> d(1.0 - fraction, 1.0 + fraction);
  const auto ms = static_cast<std::int64_t>(static_cast<double>(base.count()) * d(rng));
  return milliseconds(std::max<std::int64_t>(ms, 1));
}

Backoff::Backoff(milliseconds initial, milliseconds max, double jitter, std::uint64_t seed)
    : initial_(std::max(initial, milliseconds(1))),
      max_(std::max(max, initial_)),
      jitter_(std::clamp(jitter, 0.0, 1.0)),
      rng_(seed) {}

milliseconds Backoff::next() {
  // Doubling stops at the cap; the shift is bounded so it cannot overflow however long the
  // outage lasts.
  const int shift = std::min(failures_, 30);
  ++failures_;
  const std::int64_t raw = initial_.count() * (std::int64_t{1} << shift);
  return jittered(milliseconds(std::min<std::int64_t>(raw, max_.count())), jitter_, rng_);
}

}  // namespace wa
