// Reconnect pacing (transport reference §7.7, made exponential with jitter so a fleet of clients
// does not retry in lockstep against a struggling server): initial, 2x, 4x, ... capped at max,
// each ±jitter; reset by a successful login.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace wa::client {

class ReconnectBackoff {
 public:
  ReconnectBackoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, double jitter, std::uint64_t seed);
  // Delay before the next attempt; counts one more failure.
  std::chrono::milliseconds next();
  void reset() { failures_ = 0; }
  int failures() const { return failures_; }

 private:
  std::chrono::milliseconds initial_, max_;
  double jitter_;
  int failures_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace wa::client
