// The leader's webhook sender in `waconnector run`: delivers the due webhook deliveries
// (store/webhooks.h) of the accounts this pod leads, several at once. A dispatcher thread
// (ha::NotifyWorker: woken through the pod's notify hub on store::kWebhookChannel, when an attempt
// ends, and polling) claims in ONE statement per database per round for every led account
// (store::claim_due_deliveries) at most as many deliveries as it has free slots: `concurrency`
// in flight per pod, `endpoint_concurrency` per endpoint, so a slow or dead endpoint holds its
// own slots only. Each claimed delivery is POSTed at once on a thread of its own (with the
// claim's deadline); the dispatcher records the outcomes that came in, again one statement per
// database (so the sender holds one pooled connection at a time, as before it sent in parallel).
// Every claim and every outcome is fenced by the account's lease epoch, so a pod that lost the
// account stops at its next write;
// a claim is a lease in PostgreSQL (request timeout + a margin), longer than the POST may take,
// so no other pod POSTs the delivery meanwhile, and a pod that died mid-delivery leaves a claim
// that runs out: the next leader sends it again under the same webhook-id.
// Each POST carries the Standard Webhooks headers (webhook-id = the event id, the same on every
// retry; webhook-timestamp; webhook-signature v1). Retries follow `schedule` with jitter: a 2xx
// delivers, 410 disables the endpoint, 429/503 wait at least Retry-After, anything else retries
// until the schedule is exhausted (dead letter, visible in the delivery log). A POST holds no
// pooled connection. Deliveries in flight together may arrive out of order: the envelope's
// per-account `sequence` orders them.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
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
  int concurrency = 32;          // deliveries in flight per pod (threads while they last)
  int endpoint_concurrency = 8;  // deliveries in flight per endpoint
  // Events (and their finished deliveries) older than this are deleted by the leader.
  std::chrono::milliseconds event_retention{std::chrono::hours(24 * 7)};
  std::chrono::milliseconds prune_interval{std::chrono::minutes(10)};
  // Metrics hooks (empty: none), on the dispatcher's thread: at most once per poll_interval, from a
  // round's claims, the pending deliveries of the accounts it sends for; each delivery given up
  // (dead letter or 410), once recorded.
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
  ~WebhookSender();  // stop()
  WebhookSender(const WebhookSender&) = delete;
  WebhookSender& operator=(const WebhookSender&) = delete;

  // Stops claiming, then waits for the deliveries in flight (each ends by its deadline). Idempotent.
  void stop();

  // The lease of a claim: longer than the POST's deadline, so it outlives every attempt.
  static std::chrono::milliseconds claim_lease(std::chrono::milliseconds request_timeout);

  std::int64_t delivered() const { return delivered_.load(); }
  std::int64_t failed_attempts() const { return failed_.load(); }
  std::int64_t dead() const { return dead_.load(); }
  int in_flight() const;

  // The envelope a delivery POSTs: {"id","type","timestamp","sequence","business_id","data"}.
  static std::string envelope(const std::string& business_id, const std::string& event_id, const std::string& type,
                              std::int64_t seq, std::int64_t created_at_ms, const std::string& data_json);

 private:
  using Clock = std::chrono::steady_clock;
  using Fences = std::vector<std::shared_ptr<const store::WriteFence>>;
  struct Database {
    std::shared_ptr<store::ConnectionPool> pool;
    Fences fences;
    bool tenant = false;
  };
  struct Flight {
    std::thread thread;
    bool done = false;  // under mu_
  };
  struct Landed {
    std::shared_ptr<store::ConnectionPool> pool;
    std::shared_ptr<const store::WriteFence> fence;
    store::DeliveryResult result;
    std::string event_id;
    std::int64_t attempt = 0;
  };

  void round(store::ConnectionPool& pool);
  // The led accounts grouped by the database that holds their deliveries.
  std::vector<Database> databases(const Fences& led);
  // One claim on one database within the free slots; starts a flight per claimed delivery.
  // Returns the database's pending count when `count`.
  std::optional<std::int64_t> claim_and_start(const Database& db, Clock::time_point now, bool count);
  void start_flight(const std::shared_ptr<store::ConnectionPool>& pool,
                    std::shared_ptr<const store::WriteFence> fence, store::DueDelivery d, Clock::time_point deadline);
  void reap_flights();  // joins the flights that ended
  // POSTs one claimed delivery before `deadline`: its outcome (recorded by the dispatcher).
  store::DeliveryResult attempt(const store::DueDelivery& d, Clock::time_point deadline) const;
  // Records the outcomes that came in, one statement per database (the sender holds one pooled
  // connection at a time, never one per delivery in flight).
  void record_landed();

  std::shared_ptr<store::ConnectionPool> control_;
  LedAccounts led_;
  WebhookSenderOptions options_;
  std::chrono::steady_clock::time_point next_prune_{}, next_count_{};
  std::atomic<std::int64_t> delivered_{0}, failed_{0}, dead_{0};
  // Which led accounts keep their deliveries in a tenant database: asked once per lease (a
  // mapping never changes while the account exists), not every round.
  struct TenantEntry {
    std::weak_ptr<const store::WriteFence> fence;
    std::shared_ptr<store::ConnectionPool> pool;  // null: the control database
  };
  std::map<std::string, TenantEntry> tenant_of_;  // the dispatcher's only
  mutable std::mutex mu_;
  int in_flight_ = 0;                       // under mu_
  std::map<std::string, int> per_endpoint_;  // under mu_: webhook id -> in flight
  std::set<std::int64_t> flying_ids_;        // under mu_
  std::list<Flight> flights_;                // under mu_
  std::vector<Landed> landed_;               // under mu_: outcomes not yet recorded
  bool stopped_ = false;                     // under mu_
  ha::NotifyWorker worker_;  // last: its thread uses the members above
};

}  // namespace wa::app::api
