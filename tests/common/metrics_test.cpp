#include <catch2/catch.hpp>

#include "common/metrics.h"

TEST_CASE("metrics serialise with the waconnector_ prefix and initialised series") {
  wa::Metrics m;
  m.leader("biz-1").Set(1);
  m.fenced.Increment();
  const auto text = m.serialize();
  CHECK(text.find("waconnector_leader{business_id=\"biz-1\"} 1") != std::string::npos);
  CHECK(text.find("waconnector_fenced_total 1") != std::string::npos);
  CHECK(text.find("waconnector_lock_attempts_total{result=\"busy\"} 0") != std::string::npos);
  CHECK(text.find("waconnector_build_info{version=") != std::string::npos);
}
