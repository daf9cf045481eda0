#include "ha/fencing.h"

#include <vector>

namespace wa::ha {

FenceGuard::FenceGuard(std::function<void(const std::string&)> on_expire)
    : on_expire_(std::move(on_expire)), thread_([this] { run(); }) {}

FenceGuard::~FenceGuard() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void FenceGuard::arm(const std::string& business_id, Clock::time_point deadline) {
  {
    std::lock_guard lk(mu_);
    deadlines_[business_id] = deadline;
  }
  cv_.notify_all();
}

void FenceGuard::disarm(const std::string& business_id) {
  std::lock_guard lk(mu_);
  deadlines_.erase(business_id);
}

bool FenceGuard::armed(const std::string& business_id) const {
  std::lock_guard lk(mu_);
  return deadlines_.count(business_id) != 0;
}

bool FenceGuard::fresh(const std::string& business_id) const {
  std::lock_guard lk(mu_);
  auto it = deadlines_.find(business_id);
  return it != deadlines_.end() && Clock::now() < it->second;
}

void FenceGuard::run() {
  std::unique_lock lk(mu_);
  while (!stop_) {
    const auto now = Clock::now();
    std::vector<std::string> expired;
    auto next = Clock::time_point::max();
    for (auto it = deadlines_.begin(); it != deadlines_.end();) {
      if (it->second <= now) {
        expired.push_back(it->first);
        it = deadlines_.erase(it);
      } else {
        next = std::min(next, it->second);
        ++it;
      }
    }
    if (!expired.empty()) {
      // Called without the lock so on_expire may arm/disarm.
      lk.unlock();
      for (const auto& id : expired) on_expire_(id);
      lk.lock();
      continue;
    }
    if (next == Clock::time_point::max())
      cv_.wait(lk);
    else
      cv_.wait_until(lk, next);
  }
}

}  // namespace wa::ha
