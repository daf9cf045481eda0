#include "ha/heartbeat.h"

namespace wa::ha {

std::vector<std::int64_t> missing_keys(const std::set<std::int64_t>& expected,
                                       const std::set<std::int64_t>& held) {
  std::vector<std::int64_t> out;
  for (auto k : expected)
    if (!held.count(k)) out.push_back(k);
  return out;
}

}  // namespace wa::ha
