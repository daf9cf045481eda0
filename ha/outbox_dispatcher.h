// The leader's outbox wake-up (issue 8): a thread in `waconnector run` woken through the pod's
// notify hub on store::kOutboxChannel (an enqueue by any pod NOTIFYs it) that also sweeps
// periodically, and tells the connection of every account this pod leads that has rows to claim
// to claim and send them (core::Connection::outbox_ready()). Which accounts have rows is one query
// per round for all of them (store::outbox_backlog; one per tenant database with `backlog`):
// issue 10, an idle pod's sweep costs one statement whatever the number of accounts, where waking
// every client cost one fenced claim transaction per account. The claims themselves happen on
// the client's thread through the lease-gated message store, fenced by the lease epoch; this
// thread only wakes them, so a stale view of what this pod leads costs at most a refused claim. A
// database outage only delays the wake-ups: while the backlog cannot be read every led client is
// woken (it claims on its own), and the sweep keeps running.
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
#include "store/outbox.h"
#include "store/pg.h"

namespace wa::ha {

// An account this pod leads: its lease epoch (what its claims are fenced by) and its connection.
struct LedConnection {
  std::string business_id;
  std::int64_t epoch = 0;
  std::shared_ptr<core::Connection> connection;
};

struct OutboxDispatcherOptions {
  // Also the reconnect delay after a database error. A NOTIFY wakes at once; the sweep catches
  // rows whose NOTIFY was missed (a reconnect, a leader that just took over, a failed claim).
  std::chrono::milliseconds sweep_interval{2000};
  // The backlog of the led accounts: which have rows to claim, and how many rows are queued.
  // Empty: store::outbox_backlog on the dispatcher's pool. `waconnector run` reads the tenant
  // accounts' rows in their own databases (one query per database). Throws: a database error.
  std::function<store::OutboxBacklog(store::ConnectionPool& pool, const std::vector<store::OutboxLease>& leases)>
      backlog;
  // After every round that read the backlog: the queued rows of the led accounts (the
  // waconnector_outbox_pending gauge). Empty: none.
  std::function<void(std::int64_t queued)> on_queued;
};

class OutboxDispatcher {
 public:
  // The accounts this pod leads right now (called on the dispatcher's thread).
  using LedConnections = std::function<std::vector<LedConnection>()>;

  OutboxDispatcher(store::NotifyHub& hub, std::shared_ptr<store::ConnectionPool> pool, LedConnections led,
                   OutboxDispatcherOptions options = {});
  // Not copyable (the worker is not); destruction stops the worker first (declared last).

  // Wakes and joins the thread. Idempotent.
  void stop() { worker_.stop(); }
  // Notifications seen, wake-up rounds and connections woken so far (tests).
  std::int64_t notifications() const { return notifications_.load(); }
  std::int64_t rounds() const { return rounds_.load(); }
  std::int64_t woken() const { return woken_.load(); }

 private:
  void round(store::ConnectionPool& pool);
  // Wakes the logged-in connections of `led` (all of them when `only` is null).
  void wake(const std::vector<LedConnection>& led, const std::set<std::string>* only);

  LedConnections led_;
  OutboxDispatcherOptions options_;
  std::atomic<std::int64_t> notifications_{0};
  std::atomic<std::int64_t> rounds_{0};
  std::atomic<std::int64_t> woken_{0};
  NotifyWorker worker_;  // last: its thread uses the members above
};

}  // namespace wa::ha
