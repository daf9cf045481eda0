#include "ha/activity_batch.h"

#include <algorithm>

namespace wa::ha {

void ActivityBatch::note(const std::string& business_id, std::int64_t epoch) {
  std::lock_guard lk(mu_);
  auto& e = pending_[business_id];
  e = std::max(e, epoch);
}

std::vector<store::AccountEpoch> ActivityBatch::take() {
  std::map<std::string, std::int64_t> taken;
  {
    std::lock_guard lk(mu_);
    taken.swap(pending_);
  }
  std::vector<store::AccountEpoch> out;
  out.reserve(taken.size());
  for (auto& [id, epoch] : taken) out.push_back({id, epoch});
  return out;
}

void ActivityBatch::restore(const std::vector<store::AccountEpoch>& stamps) {
  std::lock_guard lk(mu_);
  for (const auto& s : stamps) pending_.emplace(s.business_id, s.epoch);
}

}  // namespace wa::ha
