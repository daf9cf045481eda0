// Retry pacing for the elector: a jittered steady interval for standby polls, and exponential
// backoff with jitter while the database errors (so a fleet of pods does not hammer a database
// that is restarting, and does not retry in lockstep).
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace wa::ha {

using Millis = std::chrono::milliseconds;

// base ± fraction*base, uniformly; never below 1 ms.
Millis jittered(Millis base, double fraction, std::mt19937_64& rng);

class Backoff {
 public:
  Backoff(Millis initial, Millis max, double jitter, std::uint64_t seed);
  // Delay before the next attempt after one more failure: initial, 2x, 4x, ... capped at max,
  // each with ±jitter.
  Millis next();
  void reset() { failures_ = 0; }
  int failures() const { return failures_; }

 private:
  Millis initial_;
  Millis max_;
  double jitter_;
  int failures_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace wa::ha
