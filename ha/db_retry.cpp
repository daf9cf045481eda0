#include "ha/db_retry.h"

#include <algorithm>
#include <array>

#include "common/backoff.h"

namespace wa::ha {

using std::chrono::milliseconds;

DbRetry::DbRetry(milliseconds max, std::uint64_t seed) : max_(std::max(max, kReadOnlyCap)), rng_(seed) {}

bool DbRetry::server_absent(std::string_view error) {
  // libpq's own texts (client side, C locale) and the server's cannot_connect_now (57P03) texts.
  // A server with translated messages only makes the starting-up case take the longer cap; its
  // window is short anyway.
  // During a Patroni failover every node is a replica for a moment: target_session_attrs=read-write
  // then finds no writable server, which is the same outage.
  static constexpr std::array<std::string_view, 15> kAbsent{
      "Connection refused", "No such file or directory",     "could not translate host name",
      "timeout expired",    "Connection timed out",          "server closed the connection",
      "No route to host",   "Network is unreachable",        "the database system is starting up",
      "is shutting down",   "not yet accepting connections", "in recovery mode",
      "hot standby",        "session is read-only",          "not in recovery"};
  return std::any_of(kAbsent.begin(), kAbsent.end(),
                     [&](std::string_view s) { return error.find(s) != std::string_view::npos; });
}

bool DbRetry::read_only(std::string_view error) {
  return error.find("read-only transaction") != std::string_view::npos;
}

milliseconds DbRetry::next(std::string_view error) {
  const int n = failures_++;
  milliseconds base = kFast;
  if (n >= kFastTries) {
    const int shift = std::min(n - kFastTries, 20);  // bounded: no overflow however long the outage
    const auto cap = server_absent(error) ? kOutageCap : read_only(error) ? kReadOnlyCap : max_;
    base = milliseconds(std::min<std::int64_t>(std::int64_t{100} << shift, cap.count()));
  }
  return wa::jittered(base, 0.2, rng_);
}

}  // namespace wa::ha
