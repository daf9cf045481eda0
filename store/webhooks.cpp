#include "store/webhooks.h"

#include <openssl/rand.h>

#include <array>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include "common/split.h"
#include "store/notify.h"
#include "store/row.h"
#include "store/sealing.h"

namespace wa::store {
namespace {

constexpr const char* kWebhookColumns =
    "id, business_id, url, array_to_string(events, ','), secret,"
    " (extract(epoch FROM created_at) * 1000)::bigint, (extract(epoch FROM disabled_at) * 1000)::bigint,"
    " disabled_reason, (extract(epoch FROM previous_secret_expires_at) * 1000)::bigint, secret_sealed, "
    "data_key_id";

// A secret from its plain TEXT column or its sealed BYTEA one (0014): the row's data_key_id says
// which. open_column refuses a sealed one without a KEK, and a plain one once all were sealed.
std::string open_secret(pg::Connection& conn, const pg::Result& r, int i, int plain_col, int sealed_col,
                        int key_col, std::string_view business_id, std::string_view column) {
  const auto key = key_id_at(r, i, key_col);
  const auto stored = key ? r.bytes(i, sealed_col) : crypto::to_bytes(r.text(i, plain_col));
  const auto plain = open_column(conn, key, business_id, column, stored);
  return std::string(plain.begin(), plain.end());
}

std::vector<std::string> split_commas(std::string_view s) {
  const auto fields = split(s, ',');
  return {fields.begin(), fields.end()};
}

Webhook webhook_row(pg::Connection& conn, const pg::Result& r, int i) {
  Webhook w;
  w.id = std::string(r.text(i, 0));
  w.business_id = std::string(r.text(i, 1));
  w.url = std::string(r.text(i, 2));
  w.events = split_commas(r.text(i, 3));
  w.secret = open_secret(conn, r, i, 4, 9, 10, w.business_id, sealed_column::kWebhookSecret);
  w.created_at_ms = r.i64(i, 5);
  if (!r.is_null(i, 6)) w.disabled_at_ms = r.i64(i, 6);
  w.disabled_reason = r.opt(i, 7);
  if (!r.is_null(i, 8)) w.previous_secret_expires_at_ms = r.i64(i, 8);
  return w;
}

void fence_check(pg::Connection& conn, const WriteFence& fence, std::string_view purpose) {
  if (fence.revoked())
    refuse_write(fence.business_id(), fence.epoch(), std::nullopt, purpose, fence.refused_counter());
  check_epoch(conn, fence.business_id(), fence.epoch(), purpose, fence.refused_counter());
}

}  // namespace

Webhook create_webhook(pg::Connection& conn, const std::string& business_id, const std::string& url,
                       const std::vector<std::string>& events, const std::string& secret) {
  pg::TenantScope tenant(conn, business_id);  // row-level security (0011)
  // Before the transaction: the first data key is created outside it (store/sealing.h).
  const RowSealer sealer(conn, business_id);
  const bool sealed = sealer.sealing();
  std::array<unsigned char, 8> b{};
  if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1)
    throw std::runtime_error("no randomness for a webhook id");
  std::string id = "wh_";
  for (auto c : b) id += fmt::format("{:02x}", c);
  const auto purpose = fmt::format("register webhook for business {}", business_id);
  pg::Transaction tx(conn, purpose);
  // FOR UPDATE: two registrations at once cannot both pass the count check.
  if (conn.exec(purpose, "SELECT 1 FROM wa_accounts WHERE business_id = $1 FOR UPDATE", {business_id})
          .rows() == 0)
    throw NotFound(fmt::format("business {} is not registered", business_id));
  const auto n =
      conn.exec(purpose, "SELECT count(*) FROM wa_webhooks WHERE business_id = $1", {business_id}).i64(0, 0);
  if (n >= static_cast<std::int64_t>(kMaxWebhooksPerBusiness))
    throw StoreError(fmt::format("business {} has {} webhooks already (the limit)", business_id, n));
  auto r = conn.exec(
      purpose,
      (std::string("INSERT INTO wa_webhooks (id, business_id, url, events, secret, secret_sealed,"
                   " data_key_id) VALUES ($1, $2, $3, $4::text[], $5, $6, $7::integer) RETURNING ") +
       kWebhookColumns)
          .c_str(),
      {id, business_id, url, pg::Param::array(events), sealed ? pg::Param() : pg::Param(secret),
       sealed ? sealer.seal(sealed_column::kWebhookSecret, crypto::to_bytes(secret)) : pg::Param(),
       sealer.key_id()});
  auto w = webhook_row(conn, r, 0);
  tx.commit();
  return w;
}

std::vector<Webhook> list_webhooks(pg::Connection& conn, const std::string& business_id) {
  pg::TenantScope tenant(conn, business_id);  // row-level security (0011)
  auto r = conn.exec(fmt::format("list webhooks of business {}", business_id),
                     (std::string("SELECT ") + kWebhookColumns +
                      " FROM wa_webhooks WHERE business_id = $1 ORDER BY created_at, id")
                         .c_str(),
                     {business_id});
  std::vector<Webhook> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(webhook_row(conn, r, i));
  return out;
}

std::optional<Webhook> get_webhook(pg::Connection& conn, const std::string& business_id,
                                   const std::string& id) {
  pg::TenantScope tenant(conn, business_id);  // row-level security (0011)
  auto r = conn.exec(
      fmt::format("read webhook of business {}", business_id),
      (std::string("SELECT ") + kWebhookColumns + " FROM wa_webhooks WHERE business_id = $1 AND id = $2")
          .c_str(),
      {business_id, id});
  if (r.rows() == 0) return std::nullopt;
  return webhook_row(conn, r, 0);
}

bool delete_webhook(pg::Connection& conn, const std::string& business_id, const std::string& id) {
  pg::TenantScope tenant(conn, business_id);  // row-level security (0011)
  return conn.exec(fmt::format("delete webhook of business {}", business_id),
                   "DELETE FROM wa_webhooks WHERE business_id = $1 AND id = $2 RETURNING id",
                   {business_id, id})
             .rows() > 0;
}

std::optional<Webhook> rotate_webhook_secret(pg::Connection& conn, const std::string& business_id,
                                             const std::string& id, const std::string& new_secret,
                                             std::int64_t overlap_ms) {
  pg::TenantScope tenant(conn, business_id);  // row-level security (0011)
  const RowSealer sealer(conn, business_id);
  const bool sealed = sealer.sealing();
  const auto purpose = fmt::format("rotate webhook secret of business {}", business_id);
  pg::Transaction tx(conn, purpose);
  // The current secret is read (opened) and written back as the previous one: the pair is sealed
  // under the current data key, or both stay plain without a KEK.
  auto cur = conn.exec(purpose,
                       "SELECT secret, secret_sealed, data_key_id FROM wa_webhooks"
                       " WHERE business_id = $1 AND id = $2 FOR UPDATE",
                       {business_id, id});
  if (cur.rows() == 0) return std::nullopt;
  // The old secret keeps signing only when there is an overlap; a second rotation inside the
  // window replaces the older one (two signatures at most).
  // Opened also without an overlap: a sealed row without a KEK is refused, not turned plain.
  std::optional<std::string> previous =
      open_secret(conn, cur, 0, 0, 1, 2, business_id, sealed_column::kWebhookSecret);
  if (overlap_ms <= 0) previous.reset();
  pg::Param plain_new, plain_prev, sealed_new, sealed_prev;
  if (sealed) {
    sealed_new = sealer.seal(sealed_column::kWebhookSecret, crypto::to_bytes(new_secret));
    if (previous)
      sealed_prev = sealer.seal(sealed_column::kWebhookPreviousSecret, crypto::to_bytes(*previous));
  } else {
    plain_new = new_secret;
    plain_prev = previous;
  }
  auto r = conn.exec(
      purpose,
      (std::string("UPDATE wa_webhooks SET data_key_id = $3::integer, secret = $4, previous_secret = $5,"
                   " secret_sealed = $6, previous_secret_sealed = $7,"
                   " previous_secret_expires_at = CASE WHEN $8::bigint > 0"
                   " THEN now() + ($8::bigint * interval '1 millisecond') END"
                   " WHERE business_id = $1 AND id = $2 RETURNING ") +
       kWebhookColumns)
          .c_str(),
      {business_id, id, sealer.key_id(), plain_new, plain_prev, sealed_new, sealed_prev, overlap_ms});
  auto w = webhook_row(conn, r, 0);
  tx.commit();
  return w;
}

std::vector<Delivery> list_deliveries(pg::Connection& conn, const std::string& business_id,
                                      const std::string& webhook_id, int limit) {
  pg::TenantScope tenant(conn, business_id);  // row-level security (0011)
  auto r = conn.exec(
      fmt::format("list webhook deliveries of business {}", business_id),
      "SELECT d.id, d.webhook_id, d.event_id, e.type, d.state, d.attempts,"
      " (extract(epoch FROM d.next_attempt_at) * 1000)::bigint, d.last_status, d.last_error,"
      " (extract(epoch FROM d.created_at) * 1000)::bigint, (extract(epoch FROM d.updated_at) * 1000)::bigint"
      " FROM wa_webhook_deliveries d JOIN wa_events e ON e.id = d.event_id"
      " WHERE d.business_id = $1 AND d.webhook_id = $2 ORDER BY d.id DESC LIMIT $3::int",
      {business_id, webhook_id, limit});
  return pg::read_rows_into<Delivery>(
      r, &Delivery::id, &Delivery::webhook_id, &Delivery::event_id, &Delivery::event_type, &Delivery::state,
      &Delivery::attempts, &Delivery::next_attempt_at_ms, &Delivery::last_status, &Delivery::last_error,
      &Delivery::created_at_ms, &Delivery::updated_at_ms);
}

bool redeliver(pg::Connection& conn, const std::string& business_id, const std::string& webhook_id,
               std::int64_t delivery_id) {
  // An attempt in flight keeps its claim: no second sender until it ended or its lease ran out.
  pg::TenantScope tenant(conn, business_id);  // row-level security (0011)
  auto r =
      conn.exec(fmt::format("redeliver webhook delivery of business {}", business_id),
                "UPDATE wa_webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = now(),"
                " updated_at = now()"
                " WHERE business_id = $1 AND webhook_id = $2 AND id = $3::bigint RETURNING id",
                {business_id, webhook_id, delivery_id});
  if (r.rows() == 0) return false;
  notify(conn, kWebhookChannel, business_id);
  return true;
}

namespace {

// The fence part of the sender's statements: the registry rows of the accounts whose lease_epoch
// is still the one held ($1 ids, $2 epochs), read FOR SHARE (check_epoch's lock: a new leader's
// begin_lease UPDATE waits until the statement ended), with their position in the arrays.
constexpr const char* kFencedAccounts =
    "fenced AS MATERIALIZED ("
    "  SELECT a.business_id, f.ord FROM wa_accounts a"
    "  JOIN unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS f(business_id, epoch, ord)"
    "    ON f.business_id = a.business_id AND f.epoch = a.lease_epoch"
    "  FOR SHARE OF a)";

struct FenceArrays {
  std::vector<std::string> ids;
  std::vector<std::int64_t> epochs;
};

// The unrevoked fences' ids and epochs (a revoked one is stale already: left out).
FenceArrays fence_arrays(const std::vector<std::shared_ptr<const WriteFence>>& fences) {
  FenceArrays out;
  for (const auto& f : fences) {
    if (!f || f->revoked()) continue;
    out.ids.push_back(f->business_id());
    out.epochs.push_back(f->epoch());
  }
  return out;
}

std::int64_t affected_rows(const pg::Result& r) {
  const char* n = PQcmdTuples(r.get());
  return n != nullptr && *n != '\0' ? std::stoll(n) : 0;
}

}  // namespace

ClaimRound claim_due_deliveries(pg::Connection& conn, const std::vector<std::shared_ptr<const WriteFence>>& fences,
                                const ClaimLimits& limits, std::int64_t claim_ms) {
  ClaimRound out;
  const auto f = fence_arrays(fences);
  if (f.ids.empty()) return out;
  pg::TenantScope tenant(conn, f.ids);  // row-level security (0011)
  std::vector<std::string> busy_ids;
  std::vector<std::int64_t> busy_n;
  for (const auto& [w, n] : limits.in_flight) {
    busy_ids.push_back(w);
    busy_n.push_back(n);
  }
  // Each endpoint's LATERAL takes its oldest due rows (FOR UPDATE SKIP LOCKED: a window function
  // cannot share a level with a row lock, and LIMIT cannot name the outer row), the window keeps
  // what its free slots allow, and the pod's limit is filled round robin over the endpoints.
  // One statement: a plain autocommit, its locks held to its end.
  auto r = conn.exec(
      fmt::format("claim webhook deliveries of {} accounts", f.ids.size()),
      (std::string("WITH ") + kFencedAccounts +
       ", busy AS (SELECT * FROM unnest($3::text[], $4::bigint[]) AS b(webhook_id, n)),"
       " due AS ("
       "  SELECT x.id, x.next_attempt_at, b.n,"
       "    row_number() OVER (PARTITION BY x.webhook_id ORDER BY x.next_attempt_at, x.id) AS rn"
       "  FROM wa_webhooks w JOIN fenced f ON f.business_id = w.business_id"
       "  LEFT JOIN busy b ON b.webhook_id = w.id"
       "  CROSS JOIN LATERAL ("
       "    SELECT d.id, d.webhook_id, d.next_attempt_at FROM wa_webhook_deliveries d"
       "    WHERE d.webhook_id = w.id AND d.state = 'pending' AND d.next_attempt_at <= now()"
       "      AND (d.claimed_until IS NULL OR d.claimed_until < now()) AND d.id <> ALL ($5::bigint[])"
       "    ORDER BY d.next_attempt_at, d.id LIMIT $6::int FOR UPDATE OF d SKIP LOCKED) x"
       "  WHERE w.disabled_at IS NULL),"
       " pick AS (SELECT id FROM due WHERE rn <= $6::int - coalesce(n, 0)"
       "  ORDER BY rn, next_attempt_at, id LIMIT $7::int),"
       " claimed AS ("
       "  UPDATE wa_webhook_deliveries d SET attempts = attempts + 1, updated_at = now(),"
       "    claimed_until = now() + ($8::bigint * interval '1 millisecond')"
       "  FROM pick WHERE d.id = pick.id RETURNING d.id, d.business_id, d.webhook_id, d.event_id, d.attempts),"
       // The backlog count only when asked (an initPlan runs only once referenced).
       " head AS (SELECT CASE WHEN $9::boolean THEN (SELECT count(*) FROM wa_webhook_deliveries"
       "    WHERE business_id = ANY ($1::text[]) AND state = 'pending') END AS pending,"
       "   (SELECT coalesce(string_agg(ord::text, ','), '') FROM fenced) AS fenced)"
       " SELECT h.pending, h.fenced, c.id, c.business_id, c.webhook_id, w.url, w.secret, e.id, e.type, e.seq,"
       "   (extract(epoch FROM e.created_at) * 1000)::bigint, e.data::text, c.attempts,"
       "   CASE WHEN w.previous_secret_expires_at > now() THEN w.previous_secret END,"
       "   w.secret_sealed, w.data_key_id,"
       "   CASE WHEN w.previous_secret_expires_at > now() THEN w.previous_secret_sealed END"
       " FROM head h LEFT JOIN (claimed c JOIN wa_webhooks w ON w.id = c.webhook_id"
       "   JOIN wa_events e ON e.id = c.event_id) ON true"
       " ORDER BY c.business_id, e.seq, c.id")
          .c_str(),
      {pg::Param::array(f.ids), pg::Param::array(f.epochs), pg::Param::array(busy_ids), pg::Param::array(busy_n),
       pg::Param::array(limits.exclude), std::max(limits.per_endpoint, 0), std::max(limits.total, 0), claim_ms,
       limits.count_pending});
  if (r.rows() == 0) return out;
  if (!r.is_null(0, 0)) out.pending = r.i64(0, 0);
  for (const auto& ord : split(r.text(0, 1), ','))
    if (!ord.empty()) out.fenced.push_back(f.ids.at(std::stoul(std::string(ord)) - 1));
  for (int i = 0; i < r.rows(); ++i) {
    if (r.is_null(i, 2)) continue;  // nothing claimed: the head row alone
    DueDelivery d;
    d.id = r.i64(i, 2);
    d.business_id = std::string(r.text(i, 3));
    d.webhook_id = std::string(r.text(i, 4));
    d.url = std::string(r.text(i, 5));
    d.secret = open_secret(conn, r, i, 6, 14, 15, d.business_id, sealed_column::kWebhookSecret);
    d.event_id = std::string(r.text(i, 7));
    d.event_type = std::string(r.text(i, 8));
    d.event_seq = r.i64(i, 9);
    d.event_created_at_ms = r.i64(i, 10);
    d.event_data = std::string(r.text(i, 11));
    d.attempts = r.i64(i, 12);
    if (!r.is_null(i, 13) || !r.is_null(i, 16))
      d.previous_secret =
          open_secret(conn, r, i, 13, 16, 15, d.business_id, sealed_column::kWebhookPreviousSecret);
    out.due.push_back(std::move(d));
  }
  return out;
}

std::vector<DueDelivery> claim_deliveries(pg::Connection& conn, const WriteFence& fence, int limit,
                                          std::int64_t claim_ms) {
  const auto purpose = fmt::format("claim webhook deliveries of business {}", fence.business_id());
  if (fence.revoked())
    refuse_write(fence.business_id(), fence.epoch(), std::nullopt, purpose, fence.refused_counter());
  ClaimLimits limits;
  limits.total = limit;
  limits.per_endpoint = limit;
  limits.count_pending = false;
  auto round = claim_due_deliveries(
      conn, {std::make_shared<const WriteFence>(fence.business_id(), fence.epoch())}, limits, claim_ms);
  if (round.fenced.empty()) {  // stale: the same refusal (and count) as check_epoch's
    pg::Transaction tx(conn, purpose);
    fence_check(conn, fence, purpose);
  }
  return std::move(round.due);
}

std::set<std::int64_t> finish_deliveries(pg::Connection& conn,
                                         const std::vector<std::shared_ptr<const WriteFence>>& fences,
                                         const std::vector<DeliveryResult>& results) {
  std::set<std::int64_t> recorded;
  const auto f = fence_arrays(fences);
  if (f.ids.empty() || results.empty()) return recorded;
  pg::TenantScope tenant(conn, f.ids);  // row-level security (0011)
  std::vector<std::int64_t> ids, statuses, retry;
  std::vector<std::string> business, states, errors;
  std::vector<bool> gone;
  for (const auto& r : results) {
    ids.push_back(r.id);
    business.push_back(r.business_id);
    states.push_back(r.outcome == DeliveryOutcome::delivered ? "delivered"
                     : r.outcome == DeliveryOutcome::retry   ? "pending"
                                                             : "dead");
    statuses.push_back(r.http_status.value_or(0));  // 0: no answer (NULL)
    auto err = r.error.value_or("");
    if (err.size() > 500) err.resize(500);
    errors.push_back(std::move(err));  // "": none (NULL)
    retry.push_back(r.retry_in_ms);
    gone.push_back(r.outcome == DeliveryOutcome::gone);
  }
  // One statement for every outcome of the round: the fence (check_epoch's FOR SHARE read of each
  // account), the rows of the accounts still led, and the endpoints that answered 410.
  auto r = conn.exec(
      fmt::format("record {} webhook attempts", results.size()),
      (std::string("WITH ") + kFencedAccounts +
       ", done AS ("
       "  UPDATE wa_webhook_deliveries d SET state = o.state, last_status = NULLIF(o.status, 0)::int,"
       "    last_error = NULLIF(o.error, ''), claimed_until = NULL, updated_at = now(),"
       "    next_attempt_at = now() + (o.retry_in * interval '1 millisecond')"
       "  FROM unnest($3::bigint[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::bigint[], $9::boolean[])"
       "    AS o(id, business_id, state, status, error, retry_in, gone)"
       "  JOIN fenced f ON f.business_id = o.business_id"
       "  WHERE d.id = o.id AND d.business_id = o.business_id RETURNING d.id, d.webhook_id, o.gone),"
       " off AS ("
       "  UPDATE wa_webhooks w SET disabled_at = now(), disabled_reason = 'the receiver answered 410 Gone'"
       "  FROM done WHERE done.gone AND w.id = done.webhook_id AND w.disabled_at IS NULL)"
       " SELECT id FROM done")
          .c_str(),
      {pg::Param::array(f.ids), pg::Param::array(f.epochs), pg::Param::array(ids), pg::Param::array(business),
       pg::Param::array(states), pg::Param::array(statuses), pg::Param::array(errors), pg::Param::array(retry),
       pg::Param::bool_array(gone)});
  for (int i = 0; i < r.rows(); ++i) recorded.insert(r.i64(i, 0));
  return recorded;
}

void finish_delivery(pg::Connection& conn, const WriteFence& fence, std::int64_t delivery_id,
                     DeliveryOutcome outcome, std::optional<int> http_status,
                     const std::optional<std::string>& error, std::int64_t retry_in_ms) {
  const auto purpose = fmt::format("record webhook delivery of business {}", fence.business_id());
  if (fence.revoked())
    refuse_write(fence.business_id(), fence.epoch(), std::nullopt, purpose, fence.refused_counter());
  const auto recorded =
      finish_deliveries(conn, {std::make_shared<const WriteFence>(fence.business_id(), fence.epoch())},
                        {{delivery_id, fence.business_id(), outcome, http_status, error, retry_in_ms}});
  if (recorded.empty()) {  // stale (or no such row): the same refusal (and count) as check_epoch's
    pg::Transaction tx(conn, purpose);
    fence_check(conn, fence, purpose);
  }
}

std::int64_t prune_events(pg::Connection& conn, const WriteFence& fence, std::int64_t max_age_ms) {
  pg::TenantScope tenant(conn, fence.business_id());  // row-level security (0011)
  const auto purpose = fmt::format("prune events of business {}", fence.business_id());
  pg::Transaction tx(conn, purpose);
  fence_check(conn, fence, purpose);
  auto r = conn.exec(purpose,
                     "DELETE FROM wa_events e WHERE e.business_id = $1"
                     " AND e.created_at < now() - ($2::bigint * interval '1 millisecond')"
                     " AND NOT EXISTS (SELECT 1 FROM wa_webhook_deliveries d WHERE d.event_id = e.id"
                     "   AND d.state = 'pending')",
                     {fence.business_id(), max_age_ms});
  tx.commit();
  return affected_rows(r);
}

std::int64_t prune_events(pg::Connection& conn, const std::vector<std::shared_ptr<const WriteFence>>& fences,
                          std::int64_t max_age_ms) {
  const auto f = fence_arrays(fences);
  if (f.ids.empty()) return 0;
  pg::TenantScope tenant(conn, f.ids);  // row-level security (0011)
  auto r = conn.exec(fmt::format("prune events of {} accounts", f.ids.size()),
                     (std::string("WITH ") + kFencedAccounts +
                      " DELETE FROM wa_events e USING fenced f WHERE e.business_id = f.business_id"
                      " AND e.created_at < now() - ($3::bigint * interval '1 millisecond')"
                      " AND NOT EXISTS (SELECT 1 FROM wa_webhook_deliveries d WHERE d.event_id = e.id"
                      "   AND d.state = 'pending')")
                         .c_str(),
                     {pg::Param::array(f.ids), pg::Param::array(f.epochs), max_age_ms});
  return affected_rows(r);
}

std::int64_t count_pending_deliveries(pg::Connection& conn, const std::vector<std::string>& business_ids) {
  return pg::count_in_businesses(
      conn, "count pending webhook deliveries",
      "SELECT count(*) FROM wa_webhook_deliveries WHERE business_id = ANY($1::text[]) AND state = 'pending'",
      business_ids);
}

}  // namespace wa::store
