// The lease one account's connection runs under, handed by the elector (through the supervisor)
// to whatever it starts: the epoch from begin_lease, the store write fence of that epoch, the
// freshness the client checks before every frame (core::Lease), and the lock-key move pairing
// needs. It is self-contained: fresh() reads its own deadline and fence, so a connection that
// outlives its elector (or a pod resumed after SIGSTOP) sees a stale lease without asking anyone.
//
// Threads: fresh()/expired()/epoch() from any thread, never blocking. extend() and revoke() are
// called by the elector and the fencing paths; move_key() blocks (see Elector::move_lock).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/connection.h"
#include "store/fenced_write.h"

namespace wa::ha {

// Moves a led account to a new lock key; see Elector::move_lock.
using KeyMover = std::function<bool(const std::string& business_id, std::int64_t new_key,
                                    std::function<void()> commit, std::function<bool()> abandon)>;

class Lease : public core::Lease {
 public:
  using Clock = std::chrono::steady_clock;
  Lease(std::string business_id, std::int64_t epoch, Clock::time_point deadline,
        std::shared_ptr<store::WriteFence> fence, KeyMover mover)
      : business_id_(std::move(business_id)),
        epoch_(epoch),
        deadline_ns_(deadline.time_since_epoch().count()),
        fence_(std::move(fence)),
        mover_(std::move(mover)) {}

  const std::string& business_id() const { return business_id_; }
  std::int64_t epoch() const { return epoch_; }
  // The write permit of this lease; the supervisor revokes it when it stops the connection.
  const std::shared_ptr<store::WriteFence>& fence() const { return fence_; }

  // Not revoked and before the deadline (send time of the last proof + fence_after).
  bool fresh() const override {
    return !fence_->revoked() && Clock::now().time_since_epoch().count() < deadline_ns_.load();
  }
  // A later proof moves the deadline (never back).
  void extend(Clock::time_point deadline) {
    auto cur = deadline_ns_.load();
    const auto want = deadline.time_since_epoch().count();
    while (want > cur && !deadline_ns_.compare_exchange_weak(cur, want)) {
    }
  }
  void revoke() { fence_->revoke(); }

  // Pairing: takes `new_key` for this account before `commit` stores it, then releases the old key.
  bool move_key(std::int64_t new_key, std::function<void()> commit,
                std::function<bool()> abandon = {}) const {
    if (!mover_ || !fresh()) return false;
    return mover_(business_id_, new_key, std::move(commit), std::move(abandon));
  }

 private:
  std::string business_id_;
  std::int64_t epoch_;
  std::atomic<Clock::rep> deadline_ns_;
  std::shared_ptr<store::WriteFence> fence_;
  KeyMover mover_;
};

}  // namespace wa::ha
