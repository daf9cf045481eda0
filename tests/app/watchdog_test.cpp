#include <atomic>
#include <chrono>

#include <catch2/catch.hpp>

#include "app/watchdog.h"

using wa::app::Watchdog;
using namespace std::chrono_literals;

TEST_CASE("watchdog: stalled only after stall_after without a beat", "[watchdog]") {
  std::atomic<std::int64_t> ms{0};
  Watchdog wd(3s, [&] { return Watchdog::Clock::time_point(std::chrono::milliseconds(ms.load())); });
  CHECK_FALSE(wd.stalled());
  ms = 3000;
  CHECK_FALSE(wd.stalled());  // exactly at the limit still counts as alive
  CHECK(wd.since_last_beat() == 3000ms);
  ms = 3001;
  CHECK(wd.stalled());
  wd.beat();
  CHECK_FALSE(wd.stalled());
  CHECK(wd.since_last_beat() == 0ms);
  ms = 6002;
  CHECK(wd.stalled());
}

TEST_CASE("watchdog: a clock going backwards never reports a negative age", "[watchdog]") {
  std::atomic<std::int64_t> ms{5000};
  Watchdog wd(1s, [&] { return Watchdog::Clock::time_point(std::chrono::milliseconds(ms.load())); });
  ms = 4000;
  CHECK(wd.since_last_beat() == 0ms);
  CHECK_FALSE(wd.stalled());
}

TEST_CASE("watchdog: real clock, fresh watchdog is alive", "[watchdog]") {
  Watchdog wd(10s);
  CHECK_FALSE(wd.stalled());
  CHECK(wd.stall_after() == 10s);
}
