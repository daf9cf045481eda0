// Retry pacing, shared by the WhatsApp client's reconnects and the HA elector's database and lock
// retries: exponential with jitter, so a fleet of pods neither hammers a struggling server nor
// retries in lockstep (transport reference §7.7 made exponential).
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace wa {

// base ± fraction*base, uniformly; never below 1 ms.
std::chrono::milliseconds jittered(std::chrono::milliseconds base, double fraction, std::mt19937_64& rng);

class Backoff {
 public:
  // `jitter` is clamped to [0, 1]; `initial` to at least 1 ms; `max` to at least `initial`.
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, double jitter,
          std::uint64_t seed);
  // Delay before the next attempt after one more failure: initial, 2x, 4x, ... capped at max,
  // each ±jitter.
  std::chrono::milliseconds next();
  void reset() { failures_ = 0; }
  int failures() const { return failures_; }

 private:
  std::chrono::milliseconds initial_, max_;
  double jitter_;
  int failures_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace wa
