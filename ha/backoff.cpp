#include "ha/backoff.h"

#include <algorithm>

namespace wa::ha {

Millis jittered(Millis base, double fraction, std::mt19937_64& rng) {
  if (fraction <= 0 || base.count() <= 0) return std::max(base, Millis(1));
  std::uniform_real_distribution<double> d(1.0 - fraction, 1.0 + fraction);
  const auto ms = static_cast<std::int64_t>(static_cast<double>(base.count()) * d(rng));
  return Millis(std::max<std::int64_t>(ms, 1));
}

Backoff::Backoff(Millis initial, Millis max, double jitter, std::uint64_t seed)
    : initial_(initial), max_(std::max(initial, max)), jitter_(jitter), rng_(seed) {}

Millis Backoff::next() {
  // Doubling stops at the cap; the shift is bounded so it cannot overflow.
  const int shift = std::min(failures_, 30);
  ++failures_;
  const auto raw = initial_.count() * (std::int64_t{1} << shift);
  const Millis capped(std::min<std::int64_t>(raw, max_.count()));
  return std::min(jittered(capped, jitter_, rng_), Millis(static_cast<std::int64_t>(max_.count() * (1 + jitter_))));
}

}  // namespace wa::ha
