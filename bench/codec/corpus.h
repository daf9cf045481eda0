// The benchmark corpus: a fixed, deterministic mix of stanzas shaped like a companion's traffic
// (messages with enc payloads, receipts, acks, notifications, presences, usync and ping IQs).
#pragma once

#include <cstdint>
#include <vector>

#include "core/binary/node.h"

namespace wa::bench {

std::vector<binary::Node> make_corpus(std::size_t count, std::uint64_t seed);

}  // namespace wa::bench
