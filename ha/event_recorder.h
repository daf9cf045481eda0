// The elector's store writes that are not on the lock session, off the elector's thread: the
// ha_events history, the pod's ha_members row (register, beat, remove) and the registry status
// a leader writes when it stops (set_disconnected). A store write can wait on a row lock or a
// slow database for as long as its statement timeout; here it only delays other bookkeeping,
// never fencing or the lock heartbeat.
//
// One thread; each round of writes borrows one connection of the pod's store pool (the guards of
// ha/store_session.h: statement_timeout, lock_timeout, idle_in_transaction timeout, keepalives). Events are kept in a bounded queue while the database is unreachable and written
// later with their original time in the details; the member beat is coalesced (latest wins).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "ha/activity_batch.h"
#include "ha/db_retry.h"
#include "ha/store_session.h"
#include "store/ha_events.h"
#include "store/pg.h"

namespace prometheus {
class Counter;
}

namespace wa::ha {

class EventRecorder {
 public:
  EventRecorder(StoreSessionOptions options, std::string version, prometheus::Counter* refused);
  ~EventRecorder();
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  void record(const std::string& business_id, store::EventKind kind, std::int64_t epoch,
              std::optional<std::int64_t> duration_ms, std::string details);
  // The pod's ha_members row: registered on the first beat after start, then beaten.
  void member_beat(int leading, int backend_pid);
  // registry: status/disconnect fields of a lease that is ending (fenced by its epoch).
  void set_disconnected(const std::string& business_id, std::int64_t epoch, std::string reason,
                        std::string details, std::string status, bool zero_health);
  // registry: a fenced lease says 'disconnected' (lock_lost) instead of the 'connected' its
  // connection wrote, unless a newer lease began (the epoch fences it). Kept while the database is
  // away, like events; a refusal is expected here and not counted as a refused write.
  void mark_fenced(const std::string& business_id, std::int64_t epoch, std::string details);
  // Writes the activity stamps noted in `batch` so far, all in one statement (ha/activity_batch.h);
  // stamps that could not be written go back into the batch for the next call.
  void touch_activity(std::shared_ptr<ActivityBatch> batch);
  // Waits until everything queued so far was tried, or `timeout`; true if the queue drained.
  bool flush(std::chrono::milliseconds timeout);
  // Removes the pod's member row (shutdown), bounded by `timeout`.
  void remove_member(std::chrono::milliseconds timeout);
  std::size_t queued() const;
  // False while this pod's writes are refused because the database is read-only (the last store
  // write failed with 25006); true again after a write succeeds.
  bool writable() const;
  // Another session reached the database: reconnect now if the store session is down.
  void retry_now();

 private:
  struct Job {
    std::function<void(pg::Connection&, bool late)> run;
    std::string what;
    std::string business_id;
    std::int64_t epoch = 0;
    bool retry = false;  // kept (bounded) when the database is unreachable
    bool late = false;   // was kept: written with its original time in the details
  };
  void push(Job j);
  void run();
  bool ensure_session();
  void release_session();
  void session_lost(const std::string& error);

  StoreSessionOptions opt_;
  std::shared_ptr<store::ConnectionPool> pool_;
  std::string version_;
  prometheus::Counter* refused_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<Job> jobs_;
  std::optional<std::pair<int, int>> beat_;  // leading, backend_pid
  bool registered_ = false;
  bool busy_ = false;
  bool stop_ = false;
  std::int64_t dropped_ = 0;
  pg::Connection conn_;  // the thread's: lent by pool_ for one round
  std::chrono::steady_clock::time_point next_connect_{};
  DbRetry retry_{std::chrono::milliseconds(30000), std::random_device{}()};
  bool retry_now_ = false;         // under mu_
  bool wrote_since_open_ = false;  // the thread's
  bool writable_ = true;           // under mu_: the last write was not refused as read-only
  std::thread thread_;
};

}  // namespace wa::ha
