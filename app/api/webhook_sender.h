// The leader's webhook sender: a thread in `waconnector run` that delivers the due webhook
// deliveries (store/webhooks.h) of the accounts this pod leads. Woken through the pod's notify hub
// on store::kWebhookChannel and polling as well (ha::NotifyWorker); every claim and every outcome is fenced by the
// account's WriteFence, so a pod that lost the account stops at its next write and the new
// leader picks the deliveries up (a claim of a dead sender runs out after the request timeout).
// Each POST carries the Standard Webhooks headers (webhook-id = the event id, the same on every
// retry; webhook-timestamp; webhook-signature v1). Retries follow `schedule` with jitter: a 2xx
// delivers, 410 disables the endpoint, 429/503 wait at least Retry-After, anything else retries
// until the schedule is exhausted (dead letter, visible in the delivery log). The POSTs run on
// this thread with their own deadline and hold no pooled connection meanwhile.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ha/notify_worker.h"
#include "store/fenced_write.h"
#include "store/webhooks.h"

namespace wa::app::api {

struct WebhookSenderOptions {
  // Delay before attempt i+1 (i = 0 is the first attempt): the Standard Webhooks schedule.
  std::vector<std::chrono::milliseconds> schedule = {
      std::chrono::seconds(0),  std::chrono::seconds(5),  std::chrono::minutes(5), std::chrono::minutes(30),
      std::chrono::hours(2),    std::chrono::hours(5),    std::chrono::hours(10),  std::chrono::hours(14),
      std::chrono::hours(20),   std::chrono::hours(24)};
  double jitter = 0.1;                              // each delay * (1 ± jitter)
  std::chrono::milliseconds request_timeout{10000};  // connect + TLS + send + answer
  std::chrono::milliseconds poll_interval{1000};     // also the reconnect delay after an error
  std::chrono::milliseconds max_retry_after{std::chrono::hours(24)};
  int batch = 20;
  // Events (and their finished deliveries) older than this are deleted by the leader.
  std::chrono::milliseconds event_retention{std::chrono::hours(24 * 7)};
  std::chrono::milliseconds prune_interval{std::chrono::minutes(10)};
  // Metrics hooks (empty: none), on the sender's thread: after every round, the pending deliveries
  // of the accounts it sent for; each delivery given up (dead letter or 410).
  std::function<void(std::int64_t pending)> on_pending;
  std::function<void()> on_dead_letter;
  // The led accounts that keep their events, webhooks and deliveries in a tenant database
  // (store/tenants.h), with that database's pool; the others use the control pool. Empty: none.
  std::function<std::map<std::string, std::shared_ptr<store::ConnectionPool>>(const std::vector<std::string>&)>
      tenant_pools;
  // Run each round for every led account in `tenant_pools` before its deliveries are claimed (the
  // relay of its account events into the tenant database, store::relay_account_events).
  std::function<void(const store::WriteFence&, store::ConnectionPool& control, store::ConnectionPool& tenant)>
      tenant_round;
};

class WebhookSender {
 public:
  using LedAccounts = std::function<std::vector<std::shared_ptr<const store::WriteFence>>()>;

  WebhookSender(store::NotifyHub& hub, std::shared_ptr<store::ConnectionPool> pool, LedAccounts led,
                WebhookSenderOptions options = {});
  // Not copyable (the worker is not); destruction stops the worker first (declared last).

  void stop() { worker_.stop(); }  // wakes and joins the thread; idempotent

  std::int64_t delivered() const { return delivered_.load(); }
  std::int64_t failed_attempts() const { return failed_.load(); }
  std::int64_t dead() const { return dead_.load(); }

  // The envelope a delivery POSTs: {"id","type","timestamp","sequence","business_id","data"}.
  static std::string envelope(const std::string& business_id, const std::string& event_id, const std::string& type,
                              std::int64_t seq, std::int64_t created_at_ms, const std::string& data_json);

 private:
  void round(store::ConnectionPool& pool);
  // POSTs one claimed delivery and records the outcome; false once the lease moved.
  bool deliver(store::ConnectionPool& pool, const store::WriteFence& fence, const store::DueDelivery& d);

  LedAccounts led_;
  WebhookSenderOptions options_;
  std::chrono::steady_clock::time_point next_prune_{};
  std::atomic<std::int64_t> delivered_{0}, failed_{0}, dead_{0};
  ha::NotifyWorker worker_;  // last: its thread uses the members above
};

}  // namespace wa::app::api
