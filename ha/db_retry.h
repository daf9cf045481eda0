// When to try opening a database session again (the elector's registry and lock sessions, the
// liveness/LISTEN session, the event recorder's store session).
//
// The first kFastTries retries come kFast apart: a restarted server takes a lock again ~150 ms
// after the restart began, and every account must be logged in again within a second of the
// database accepting connections. After that the delay doubles from 100 ms. Its cap depends on what
// the last attempt said:
//   * the server was not there (refused, no socket, timed out) or not accepting yet (starting up,
//     shutting down, in recovery): at most kOutageCap, so an outage of any length ends for this
//     pod within kOutageCap (+jitter) of the server accepting connections; a refused connect costs
//     the server nothing;
//   * the database refused a write as read-only (25006: default_transaction_read_only, a demoted
//     primary): at most kReadOnlyCap, so sessions are not opened and closed in a tight loop while
//     it lasts, and the pod writes again within kReadOnlyCap after it ends;
//   * the server answered with an error (authentication, too many clients, no such database):
//     the configured cap (default 30 s), so a fleet does not pile onto a server that says no.
// Every delay is ±20 % jittered so pods do not retry in lockstep.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>
#include <string_view>

namespace wa::ha {

class DbRetry {
 public:
  static constexpr std::chrono::milliseconds kFast{50};
  static constexpr int kFastTries = 3;
  static constexpr std::chrono::milliseconds kOutageCap{400};
  static constexpr std::chrono::milliseconds kReadOnlyCap{5000};

  DbRetry(std::chrono::milliseconds max, std::uint64_t seed);
  // The delay after one more failed attempt whose error text was `error`.
  std::chrono::milliseconds next(std::string_view error);
  void reset() { failures_ = 0; }
  int failures() const { return failures_; }

  // True when `error` (a libpq connection error) says nobody answered or the server is not
  // accepting connections yet, rather than that it refused us.
  static bool server_absent(std::string_view error);
  // True when `error` is a write refused because the session is read-only.
  static bool read_only(std::string_view error);

 private:
  std::chrono::milliseconds max_;
  int failures_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace wa::ha
