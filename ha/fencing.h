// Self-fencing. A leader may act for an account only while its lease is fresh: the lease runs
// from the SEND time of the last heartbeat that came back OK (the server received that query,
// so it cannot have released the lock before then) for `fence_after`. The database releases a
// silent session no sooner than send time + server timeout (> fence_after by a margin), so a
// leader that stops at the deadline has stopped before anyone else can win the lock.
//
// The deadline is enforced by its own thread, independent of the elector's loop, so a blocking
// database call in the loop can never delay a fence.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace wa::ha {

// The local write switch that fencing closes is store::WriteFence (store/fenced_write.h); the
// supervisor revokes it from on_expire.
class FenceGuard {
 public:
  using Clock = std::chrono::steady_clock;
  // `on_expire(business_id)` runs on the guard thread when an armed deadline passes; it must be
  // quick and must not block on the network (stop the connection, close the gate, post an event).
  explicit FenceGuard(std::function<void(const std::string&)> on_expire);
  ~FenceGuard();
  FenceGuard(const FenceGuard&) = delete;
  FenceGuard& operator=(const FenceGuard&) = delete;

  // Sets (or moves) the account's deadline.
  void arm(const std::string& business_id, Clock::time_point deadline);
  void disarm(const std::string& business_id);
  bool armed(const std::string& business_id) const;
  // Armed and its deadline not yet passed: the lease is fresh, the pod may act for the account.
  bool fresh(const std::string& business_id) const;

 private:
  void run();
  std::function<void(const std::string&)> on_expire_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Clock::time_point> deadlines_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace wa::ha
