// Wall-clock milliseconds since the epoch as UTC text, for output meant for people (CLI, JSON).
#pragma once

#include <cstdint>
#include <string>

namespace wa {

// strftime(`format`) of the UTC time at `ms` (whole seconds; the caller adds milliseconds if wanted).
std::string format_utc(std::int64_t ms, const char* format);

}  // namespace wa
