#include "common/utc_time.h"

#include <ctime>

namespace wa {

std::string format_utc(std::int64_t ms, const char* format) {
  const std::time_t s = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[64];
  const std::size_t n = std::strftime(buf, sizeof buf, format, &tm);
  return std::string(buf, n);
}

}  // namespace wa
