#include <catch2/catch.hpp>

#include <string>

#include "common/log.h"

TEST_CASE("json strings are escaped") {
  std::string out;
  wa::log::append_json_string(out, "a\"b\\c\n\x01");
  CHECK(out == R"("a\"b\\c\n\u0001")");
}
