// The leader's outbox wake-up (issue 8): a thread in `waconnector run` woken through the pod's
// notify hub on store::kOutboxChannel (an enqueue by any pod NOTIFYs it) that also sweeps
// periodically, and tells
// the connection of every account this pod leads to claim and send (core::Connection::
// outbox_ready()). The claims themselves happen on the client's thread through the lease-gated
// message store, fenced by the lease epoch; this thread only wakes them, so a stale view of what
// this pod leads costs at most a refused claim. A database outage only delays the wake-ups: the
// sweep keeps running.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/connection.h"
#include "ha/notify_worker.h"
#include "store/pg.h"

namespace wa::ha {

struct OutboxDispatcherOptions {
  // Also the reconnect delay after a database error. A NOTIFY wakes at once; the sweep catches
  // rows whose NOTIFY was missed (a reconnect, a leader that just took over).
  std::chrono::milliseconds sweep_interval{2000};
  // Called after every wake-up round with a connection of the pod's store pool (for the outbox
  // backlog gauge); an exception counts as a database error. Empty: none.
  std::function<void(pg::Connection&)> after_round;
};

class OutboxDispatcher {
 public:
  // The connections of the accounts this pod leads right now (called on the dispatcher's thread).
  using LedConnections = std::function<std::vector<std::shared_ptr<core::Connection>>()>;

  OutboxDispatcher(store::NotifyHub& hub, std::shared_ptr<store::ConnectionPool> pool, LedConnections led,
                   OutboxDispatcherOptions options = {});
  // Not copyable (the worker is not); destruction stops the worker first (declared last).

  // Wakes and joins the thread. Idempotent.
  void stop() { worker_.stop(); }
  // Notifications seen and wake-up rounds so far (tests).
  std::int64_t notifications() const { return notifications_.load(); }
  std::int64_t rounds() const { return rounds_.load(); }

 private:
  void wake_all();

  LedConnections led_;
  OutboxDispatcherOptions options_;
  std::atomic<std::int64_t> notifications_{0};
  std::atomic<std::int64_t> rounds_{0};
  NotifyWorker worker_;  // last: its thread uses the members above
};

}  // namespace wa::ha
