// The leader's outbox wake-up (issue 8): a thread in `waconnector run` that LISTENs on
// store::kOutboxChannel (an enqueue by any pod NOTIFYs it) and also sweeps periodically, and tells
// the connection of every account this pod leads to claim and send (core::Connection::
// outbox_ready()). The claims themselves happen on the client's thread through the lease-gated
// message store, fenced by the lease epoch; this thread only wakes them, so a stale view of what
// this pod leads costs at most a refused claim. A database outage only delays the wake-ups: the
// sweep keeps running and the thread reconnects.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/connection.h"

namespace wa::ha {

struct OutboxDispatcherOptions {
  // Also the reconnect delay after a database error. A NOTIFY wakes at once; the sweep catches
  // rows whose NOTIFY was missed (a reconnect, a leader that just took over).
  std::chrono::milliseconds sweep_interval{2000};
};

class OutboxDispatcher {
 public:
  // The connections of the accounts this pod leads right now (called on the dispatcher's thread).
  using LedConnections = std::function<std::vector<std::shared_ptr<core::Connection>>()>;

  OutboxDispatcher(std::string database_url, LedConnections led, OutboxDispatcherOptions options = {});
  ~OutboxDispatcher();  // stop()
  OutboxDispatcher(const OutboxDispatcher&) = delete;
  OutboxDispatcher& operator=(const OutboxDispatcher&) = delete;

  // Wakes and joins the thread. Idempotent.
  void stop();
  // Notifications seen and wake-up rounds so far (tests).
  std::int64_t notifications() const { return notifications_.load(); }
  std::int64_t rounds() const { return rounds_.load(); }

 private:
  void run();
  void wake_all();

  std::string url_;
  LedConnections led_;
  OutboxDispatcherOptions options_;
  int wake_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<std::int64_t> notifications_{0};
  std::atomic<std::int64_t> rounds_{0};
  std::thread thread_;
};

}  // namespace wa::ha
