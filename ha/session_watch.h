// The pod's watch thread, independent of the elector's loop, so that nothing the elector's thread
// is blocked in (a store write waiting on a row lock, a slow statement) can delay a fence:
//  * it watches the socket of every lock session that holds account locks (a dup of it, polled
//    for hang-up only, never read): when the server ends the session (pg_terminate_backend, a
//    backend crash, a server restart) the socket closes at once, and the accounts on it are
//    stopped within milliseconds through `on_lost`;
//  * it holds the pod's liveness lock on a session of its own (store/advisory_lock.h), LISTENs on
//    the leader channel there and hands every notice to `on_notice`; if that session is lost,
//    every led account is stopped (`on_liveness_lost`): a pod without its liveness lock must not
//    act, because a new leader reads "lock free" as "that pod is gone";
//  * next to the liveness lock it holds the pod's peer-watch lock, which the other pods wait on
//    (ha/peer_waiters.h) to learn of this pod's death at once;
//  * it announces (NOTIFY) that a pod stopped acting for a lease, on the liveness session, which
//    still works when the lock session does not.
// Callbacks run on the watch thread; they must be quick and never block on the network.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ha/db_retry.h"
#include "ha/lock_session.h"
#include "store/advisory_lock.h"

namespace wa::ha {

class SessionWatch {
 public:
  struct Callbacks {
    // The lock session registered as `watch_id` is gone (its socket hung up).
    std::function<void(int watch_id)> on_lost;
    std::function<void(const store::LeaderNotice&)> on_notice;
    // Any notice at all arrived (old-style payloads too): standbys poll at once.
    std::function<void()> on_any_notice;
    // The liveness session (and its lock) is gone.
    std::function<void()> on_liveness_lost;
    // The liveness session was opened again after a failure: the database accepts connections,
    // so the pod's other sessions need not wait for their own next retry.
    std::function<void()> on_database_back;
  };
  // The liveness session gets the lock sessions' settings, idle_session_timeout included, and is
  // pinged every `ping_every`: a stopped process (SIGSTOP, a frozen VM) loses it about when it
  // loses its lock session, so a new leader does not wait for a pod that cannot act anyway.
  SessionWatch(SessionSettings liveness_session, std::string pod, std::chrono::milliseconds ping_every,
               Callbacks cb);
  ~SessionWatch();
  SessionWatch(const SessionWatch&) = delete;
  SessionWatch& operator=(const SessionWatch&) = delete;

  // True while this pod holds its liveness lock.
  bool alive() const { return alive_.load(); }
  // Starts watching `fd` (dup'ed: the caller may close its own fd at any time, but must call
  // unwatch() BEFORE it closes the session on purpose, or the close looks like a loss).
  void watch(int watch_id, int fd);
  void unwatch(int watch_id);
  // Another session reached the database: try the liveness session now if it is down.
  void retry_now();
  // Queues a NOTIFY on the leader channel (sent from the watch thread).
  void announce(const store::LeaderNotice& n);

 private:
  void run();
  void wake();
  bool ensure_liveness();
  std::string pod_;
  SessionSettings settings_;
  Callbacks cb_;
  std::atomic<bool> alive_{false};
  std::atomic<bool> stop_{false};
  int pipe_[2]{-1, -1};
  std::mutex mu_;
  std::map<int, int> fds_;  // watch_id -> dup'ed fd
  std::vector<std::string> outbox_;
  LockSession live_;  // the thread's
  std::chrono::steady_clock::time_point next_attempt_{};
  std::atomic<bool> retry_now_{false};
  DbRetry retry_;
  bool failed_before_ = false;  // the last attempt failed (or the session was lost)
  std::chrono::steady_clock::time_point next_ping_{};
  std::chrono::milliseconds ping_every_;
  std::string in_flight_notice_;
  bool warned_taken_ = false;
  // The peer-watch lock (store/advisory_lock.h) on the same session; a peer's waiter may hold it
  // for a moment (shared) when we take it, so it is retried on later pings until held.
  bool watch_lock_held_ = false;
  bool watch_lock_in_flight_ = false;
  int taken_tries_ = 0;
  std::thread thread_;
};

}  // namespace wa::ha
