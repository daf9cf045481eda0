// Pairing's lock move: a led account goes from its 'pair:' key to its jid key without a gap. The
// request comes from the connection's thread (through Lease::move_key), is queued here, and the
// elector's thread performs it on the account's lock session between two statements: take the
// new key, run `commit` (which stores it for every pod), release the old key. Standbys polling
// the new key find it taken from the moment it is stored.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ha/account_lease.h"
#include "ha/lock_slot.h"

namespace wa::ha {

class LockMoves {
 public:
  struct Request {
    std::string business_id;
    std::int64_t new_key = 0;
    std::function<void()> commit;
    std::promise<bool> done;
  };
  explicit LockMoves(std::function<void()> wake) : wake_(std::move(wake)) {}

  // Any thread but the elector's (`loop_thread`): queues the move and waits for its result, or
  // until `abandon` returns true (then false; the request stays queued and `commit` must own
  // what it touches). Throws std::logic_error on the elector's own thread.
  bool request(const std::string& business_id, std::int64_t new_key, std::function<void()> commit,
               std::function<bool()> abandon);
  std::atomic<std::thread::id> loop_thread{};
  std::vector<std::shared_ptr<Request>> take();
  void put_back(std::shared_ptr<Request> r);
  // Every queued and future request answers false (shutdown).
  void close();

  // On the elector's thread. False: the session is busy, try again next tick. pg::Error from the
  // lock session propagates (the caller fails the session; the request has answered false).
  static bool perform(Request& m, AccountLease& e, LockSlot& slot);

 private:
  std::mutex mu_;
  bool closed_ = false;
  std::function<void()> wake_;
  std::vector<std::shared_ptr<Request>> q_;
};

}  // namespace wa::ha
