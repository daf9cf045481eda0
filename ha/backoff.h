// The elector's retry pacing is the shared wa::Backoff (common/backoff.h): a jittered steady
// interval for standby polls, and exponential backoff with jitter while the database errors.
#pragma once

#include "common/backoff.h"

namespace wa::ha {

using Millis = std::chrono::milliseconds;
using wa::Backoff;
using wa::jittered;

}  // namespace wa::ha
