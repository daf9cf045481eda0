// A background thread woken by PostgreSQL NOTIFY through the pod's notify hub (store/notify_hub.h:
// one LISTEN session per pod for every channel) and at least every `interval` (the sweep: a
// NOTIFY sent while the hub was not listening is lost). A round borrows connections from the
// pod's store pool as it needs them, never holding one across a slow wait (a WhatsApp request, an
// HTTP POST). A round that throws is a database error: logged once (<name>_db_error, then
// <name>_reconnected after the next good round), `on_down` runs, and the next round comes
// `interval` later. stop() wakes the wait at once.
// Shared by the outbox dispatcher, the pair-code responder, the webhook sender, the logout
// responder (which differ only in what a round does) and the SSE streams' listener.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "store/connection_pool.h"
#include "store/notify_hub.h"

namespace wa::ha {

struct NotifyWorkerOptions {
  std::string name;                          // log event prefix, e.g. "outbox_dispatcher"
  std::string channel;                       // subscribed on the hub
  std::chrono::milliseconds interval{1000};  // the sweep, and the delay after an error
  // Also run a round at once when the worker starts and whenever the hub (re)connects (work
  // queued while nothing listened is served at once instead of at the next sweep).
  bool round_on_connect = false;
};

class NotifyWorker {
 public:
  // One round on the worker's thread; `notified` is true when a NOTIFY woke it. The round may
  // check stopping() to end early.
  using Round = std::function<void(store::ConnectionPool& pool, bool notified)>;

  // Starts the thread. `on_down` (optional) runs after each failed round, before the delay.
  NotifyWorker(store::NotifyHub& hub, std::shared_ptr<store::ConnectionPool> pool, NotifyWorkerOptions options,
               Round round, std::function<void()> on_down = {});
  ~NotifyWorker();  // stop()
  NotifyWorker(const NotifyWorker&) = delete;
  NotifyWorker& operator=(const NotifyWorker&) = delete;

  // Wakes and joins the thread (a round in progress finishes first). Idempotent.
  void stop();
  bool stopping() const { return stopping_.load(); }
  // Runs a round now (as a NOTIFY would).
  void wake();
  // Waits up to `d` unless stop() comes first; false when stopping (rounds that pause between steps).
  bool sleep_for(std::chrono::milliseconds d);

 private:
  void run();

  std::shared_ptr<store::ConnectionPool> pool_;
  NotifyWorkerOptions options_;
  Round round_;
  std::function<void()> on_down_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool notified_ = false;   // under mu_
  bool sweep_now_ = false;  // under mu_: the hub (re)connected
  std::atomic<bool> stopping_{false};
  store::NotifyHub::Subscription sub_;
  std::thread thread_;
};

}  // namespace wa::ha
