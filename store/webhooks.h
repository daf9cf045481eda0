// Webhook endpoints, the event log and durable deliveries (migration 0009). Events are written by
// triggers in the transaction of their cause (an inbox insert, an outbox status change, an account
// status or lease change) together with one pending delivery per subscribed endpoint; the
// account's leader claims due deliveries (fenced by its lease epoch), sends them and records the
// outcome. A delivery keeps its event id on every retry and across failovers.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "store/errors.h"
#include "store/fenced_write.h"
#include "store/pg.h"

namespace wa::store {

inline constexpr const char* kEventTypes[] = {"message.received", "message.status", "account.status",
                                             "account.leader"};
inline constexpr std::size_t kMaxWebhookUrlChars = 2048;
inline constexpr std::size_t kMaxWebhooksPerBusiness = 10;

struct Webhook {
  std::string id;
  std::string business_id;
  std::string url;
  std::vector<std::string> events;
  std::string secret;
  std::int64_t created_at_ms = 0;
  std::optional<std::int64_t> disabled_at_ms;
  std::optional<std::string> disabled_reason;
  // During a secret rotation: until when the previous secret still signs (next to `secret`).
  std::optional<std::int64_t> previous_secret_expires_at_ms = std::nullopt;
};

// Registers an endpoint. Throws NotFound (unknown business), StoreError (the business has
// kMaxWebhooksPerBusiness already). Input is checked by the caller (app/api).
Webhook create_webhook(pg::Connection& conn, const std::string& business_id, const std::string& url,
                       const std::vector<std::string>& events, const std::string& secret);
std::vector<Webhook> list_webhooks(pg::Connection& conn, const std::string& business_id);
std::optional<Webhook> get_webhook(pg::Connection& conn, const std::string& business_id, const std::string& id);
bool delete_webhook(pg::Connection& conn, const std::string& business_id, const std::string& id);
// Makes `new_secret` the signing secret; the current one keeps signing next to it for
// `overlap_ms` (0: it stops at once). nullopt when there is no such endpoint of the business.
std::optional<Webhook> rotate_webhook_secret(pg::Connection& conn, const std::string& business_id,
                                            const std::string& id, const std::string& new_secret,
                                            std::int64_t overlap_ms);

struct Delivery {
  std::int64_t id = 0;
  std::string webhook_id;
  std::string event_id;
  std::string event_type;
  std::string state;  // pending | delivered | dead
  std::int64_t attempts = 0;
  std::int64_t next_attempt_at_ms = 0;
  std::optional<std::int64_t> last_status;
  std::optional<std::string> last_error;
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
};

// The endpoint's deliveries, newest first.
std::vector<Delivery> list_deliveries(pg::Connection& conn, const std::string& business_id,
                                      const std::string& webhook_id, int limit);
// Makes a delivery pending and due now with its attempts reset (the schedule starts again); the
// event id stays, and so does the claim of an attempt in flight (it is sent again after it). False when there is no such delivery of this endpoint and business.
bool redeliver(pg::Connection& conn, const std::string& business_id, const std::string& webhook_id,
               std::int64_t delivery_id);

// --- the leader's sender ---

struct DueDelivery {
  std::int64_t id = 0;
  std::string business_id;
  std::string webhook_id;
  std::string url;
  std::string secret;
  std::string event_id;
  std::string event_type;
  std::int64_t event_seq = 0;
  std::int64_t event_created_at_ms = 0;
  std::string event_data;  // JSON text
  std::int64_t attempts = 0;  // including this one
  std::optional<std::string> previous_secret = std::nullopt;  // during a rotation window: signs too
};

// What one claim may take: the sender's free slots.
struct ClaimLimits {
  int total = 20;         // deliveries at most (the pod's free slots)
  int per_endpoint = 4;   // in flight per endpoint at most, those in `in_flight` included
  std::map<std::string, int> in_flight;  // endpoint (webhook id) -> its deliveries in flight now
  // Deliveries in flight now: never claimed again meanwhile (a redeliver clears a claim).
  std::vector<std::int64_t> exclude;
  bool count_pending = true;  // also count the backlog (ClaimRound::pending)
};

struct ClaimRound {
  std::vector<DueDelivery> due;  // by account, then event sequence
  std::optional<std::int64_t> pending;  // the accounts' deliveries not yet delivered or given up (if counted)
  std::vector<std::string> fenced;  // the accounts whose fence held (the others are stale)
};

// The sender's round for every led account of one database, in ONE statement (its cost does
// not grow with accounts or endpoints in round trips): claims due deliveries within `limits`,
// round robin over the endpoints (each endpoint's most overdue first), for `claim_ms` (another
// claimer skips them meanwhile), and counts an attempt. Only the accounts whose lease_epoch is
// still the fence's are claimed from: their registry rows are read FOR SHARE in the statement, as
// check_epoch does, so a new leader's begin_lease waits for it; a stale or revoked fence claims
// nothing. Also answers the pending count of the fences' accounts when asked.
ClaimRound claim_due_deliveries(pg::Connection& conn, const std::vector<std::shared_ptr<const WriteFence>>& fences,
                                const ClaimLimits& limits, std::int64_t claim_ms);

// claim_due_deliveries for one account, up to `limit`, without a per-endpoint bound. Throws
// EpochMoved for a stale epoch.
std::vector<DueDelivery> claim_deliveries(pg::Connection& conn, const WriteFence& fence, int limit,
                                          std::int64_t claim_ms);

enum class DeliveryOutcome { delivered, retry, dead, gone };
// One attempt's outcome: delivered; retry after `retry_in_ms`; dead (schedule exhausted); gone
// (410: the delivery is dead and the endpoint disabled).
struct DeliveryResult {
  std::int64_t id = 0;
  std::string business_id;
  DeliveryOutcome outcome = DeliveryOutcome::retry;
  std::optional<int> http_status;
  std::optional<std::string> error;  // cut to 500 characters
  std::int64_t retry_in_ms = 0;
};
// Records the outcomes of many attempts (of several accounts) in ONE statement, fenced per
// account as claim_due_deliveries is: an outcome of an account whose fence is stale or revoked
// is not recorded (its claim runs out and the new leader sends it again). Returns the ids
// recorded.
std::set<std::int64_t> finish_deliveries(pg::Connection& conn,
                                         const std::vector<std::shared_ptr<const WriteFence>>& fences,
                                         const std::vector<DeliveryResult>& results);
// finish_deliveries for one; throws EpochMoved for a stale epoch.
void finish_delivery(pg::Connection& conn, const WriteFence& fence, std::int64_t delivery_id,
                     DeliveryOutcome outcome, std::optional<int> http_status,
                     const std::optional<std::string>& error, std::int64_t retry_in_ms = 0);

// Deletes the account's events older than `max_age_ms` that have no pending delivery (their
// finished deliveries go with them): the event log and the delivery log keep that long. Fenced
// (only the leader prunes). Returns the number of events deleted.
std::int64_t prune_events(pg::Connection& conn, const WriteFence& fence, std::int64_t max_age_ms);
// The same for every fence's account in one statement; a stale or revoked fence prunes nothing.
std::int64_t prune_events(pg::Connection& conn, const std::vector<std::shared_ptr<const WriteFence>>& fences,
                          std::int64_t max_age_ms);

// Deliveries of these accounts not yet delivered or given up (the webhook backlog gauge).
std::int64_t count_pending_deliveries(pg::Connection& conn, const std::vector<std::string>& business_ids);

}  // namespace wa::store
