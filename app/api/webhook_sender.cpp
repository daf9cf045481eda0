#include "app/api/webhook_sender.h"

#include <openssl/rand.h>

#include <algorithm>
#include <system_error>
#include <ctime>
#include <exception>

#include <fmt/format.h>

#include "app/api/json_writer.h"
#include "app/api/webhook_http.h"
#include "app/api/webhook_sign.h"
#include "common/log.h"
#include "common/utc_time.h"
#include "store/connection_pool.h"
#include "store/notify.h"
#include "store/pg.h"
#include "store/webhooks.h"

namespace wa::app::api {
namespace {

std::int64_t jittered(std::chrono::milliseconds d, double jitter) {
  std::uint32_t r = 0;
  RAND_bytes(reinterpret_cast<unsigned char*>(&r), sizeof r);
  const double f = 1.0 + jitter * (2.0 * (static_cast<double>(r) / 4294967295.0) - 1.0);
  return static_cast<std::int64_t>(static_cast<double>(d.count()) * f);
}

// Standard Webhooks: during a rotation both signatures, space-separated (new secret first).
std::string signature_header(const store::DueDelivery& d, std::int64_t now, const std::string& body) {
  std::string h = sign_webhook(d.secret, d.event_id, now, body);
  if (d.previous_secret) {
    h += ' ';
    h += sign_webhook(*d.previous_secret, d.event_id, now, body);
  }
  return h;
}

}  // namespace

std::string WebhookSender::envelope(const std::string& business_id, const std::string& event_id,
                                    const std::string& type, std::int64_t seq, std::int64_t created_at_ms,
                                    const std::string& data_json) {
  const auto ts = fmt::format("{}.{:03}Z", format_utc(created_at_ms, "%Y-%m-%dT%H:%M:%S"),
                              static_cast<int>(created_at_ms % 1000));
  return JsonObject()
      .str("id", event_id)
      .str("type", type)
      .str("timestamp", ts)
      .num("sequence", seq)
      .str("business_id", business_id)
      .raw("data", data_json)
      .done();
}

WebhookSender::WebhookSender(store::NotifyHub& hub, std::shared_ptr<store::ConnectionPool> pool, LedAccounts led,
                             WebhookSenderOptions options)
    : control_(pool),
      led_(std::move(led)),
      options_(std::move(options)),
      worker_(hub, std::move(pool), {"webhook_sender", std::string(store::kWebhookChannel), options_.poll_interval, true},
              [this](store::ConnectionPool& p, bool) { round(p); }) {}

WebhookSender::~WebhookSender() { stop(); }

void WebhookSender::stop() {
  worker_.stop();  // no new claims from here on
  std::list<Flight> flights;
  {
    std::lock_guard lk(mu_);
    stopped_ = true;
    flights.swap(flights_);
  }
  for (auto& f : flights)
    if (f.thread.joinable()) f.thread.join();
  try {
    record_landed();  // the outcomes of the last attempts (else their claims run out: sent again)
  } catch (const std::exception& e) {
    log::warn("webhook_record_failed").kv("error", e.what());
  }
}

std::chrono::milliseconds WebhookSender::claim_lease(std::chrono::milliseconds request_timeout) {
  // The POST's deadline counts from before the claim, so the lease outlives it by the margin
  // whatever the pod's scheduling; 10 s -> 15 s.
  return request_timeout + std::max<std::chrono::milliseconds>(std::chrono::seconds(1), request_timeout / 2);
}

int WebhookSender::in_flight() const {
  std::lock_guard lk(mu_);
  return in_flight_;
}

std::vector<WebhookSender::Database> WebhookSender::databases(const Fences& led) {
  // Ask for the tenant databases of the accounts led under a lease not seen yet (one query, only
  // when the led set changed); forget the accounts no longer led.
  std::vector<std::string> unknown;
  std::map<std::string, TenantEntry> next;
  for (const auto& f : led) {
    const auto it = tenant_of_.find(f->business_id());
    if (it != tenant_of_.end() && it->second.fence.lock() == f)
      next.emplace(f->business_id(), it->second);
    else
      unknown.push_back(f->business_id());
  }
  if (!unknown.empty()) {
    const auto found = options_.tenant_pools ? options_.tenant_pools(unknown)
                                             : std::map<std::string, std::shared_ptr<store::ConnectionPool>>{};
    for (const auto& f : led)
      if (!next.count(f->business_id())) {
        const auto t = found.find(f->business_id());
        next[f->business_id()] = TenantEntry{f, t == found.end() ? nullptr : t->second};
      }
  }
  tenant_of_ = std::move(next);
  std::vector<Database> out;
  out.push_back({control_, {}, false});
  for (const auto& f : led) {
    const auto& pool = tenant_of_.at(f->business_id()).pool;
    if (!pool) {
      out.front().fences.push_back(f);
      continue;
    }
    auto it = std::find_if(out.begin(), out.end(), [&](const Database& d) { return d.pool == pool; });
    if (it == out.end()) it = out.insert(out.end(), Database{pool, {}, true});
    it->fences.push_back(f);
  }
  if (out.front().fences.empty()) out.erase(out.begin());
  return out;
}

void WebhookSender::round(store::ConnectionPool&) {
  reap_flights();
  record_landed();
  auto led = led_();
  std::erase_if(led, [](const auto& f) { return !f || f->revoked(); });
  const auto dbs = databases(led);
  // A database that fails does not stop the others; the first error is the round's.
  std::exception_ptr error;
  const auto each = [&](const Database& db, const auto& fn) {
    try {
      fn();
    } catch (const store::EpochMoved&) {
    } catch (const std::exception& e) {
      if (!db.tenant) throw;
      log::warn("webhook_tenant_round_failed").kv("accounts", static_cast<std::int64_t>(db.fences.size())).kv("error", e.what());
      if (!error) error = std::current_exception();
    }
  };
  if (Clock::now() >= next_prune_) {
    next_prune_ = Clock::now() + options_.prune_interval;
    for (const auto& db : dbs)
      each(db, [&] {
        const auto n = db.pool->with(
            [&](pg::Connection& c) { return store::prune_events(c, db.fences, options_.event_retention.count()); });
        if (n > 0) log::info("events_pruned").kv("accounts", static_cast<std::int64_t>(db.fences.size())).kv("events", n);
      });
  }
  // The relay of tenant accounts' account.* events into their databases (options_.tenant_round).
  if (options_.tenant_round)
    for (const auto& db : dbs) {
      if (!db.tenant) continue;
      for (const auto& fence : db.fences) {
        if (worker_.stopping()) return;
        try {
          options_.tenant_round(*fence, *control_, *db.pool);
        } catch (const store::EpochMoved&) {
        } catch (const std::exception& e) {
          log::warn("tenant_round_failed").kv("business_id", fence->business_id()).kv("error", e.what());
        }
      }
    }
  // The backlog gauge at most once per poll interval: a round woken by every freed slot during a
  // burst does not count the backlog each time.
  const bool count = options_.on_pending && Clock::now() >= next_count_;
  if (count) next_count_ = Clock::now() + options_.poll_interval;
  std::int64_t pending = 0;
  bool all_counted = true;
  for (const auto& db : dbs) {
    if (worker_.stopping()) return;
    std::optional<std::int64_t> n;
    each(db, [&] { n = claim_and_start(db, Clock::now(), count); });
    if (n) pending += *n;
    all_counted = all_counted && n.has_value();
  }
  if (count && all_counted) options_.on_pending(pending);
  if (error) std::rethrow_exception(error);
}

std::optional<std::int64_t> WebhookSender::claim_and_start(const Database& db, Clock::time_point now, bool count) {
  store::ClaimLimits limits;
  limits.count_pending = count;
  {
    std::lock_guard lk(mu_);
    limits.total = std::max(0, options_.concurrency - in_flight_);
    // No free slot: the statement only counts the backlog (no row is claimed or locked).
    limits.per_endpoint = limits.total > 0 ? options_.endpoint_concurrency : 0;
    limits.in_flight = per_endpoint_;
    limits.exclude.assign(flying_ids_.begin(), flying_ids_.end());
  }
  const auto lease = claim_lease(options_.request_timeout);
  // The POST's deadline counts from before the claim: it ends before the lease does.
  const auto deadline = now + options_.request_timeout;
  auto claimed = db.pool->with(
      [&](pg::Connection& c) { return store::claim_due_deliveries(c, db.fences, limits, lease.count()); });
  std::map<std::string, std::shared_ptr<const store::WriteFence>> fence_of;
  for (const auto& f : db.fences) fence_of[f->business_id()] = f;
  for (auto& d : claimed.due) {
    auto fence = fence_of.at(d.business_id);
    start_flight(db.pool, std::move(fence), std::move(d), deadline);
  }
  return claimed.pending;
}

void WebhookSender::start_flight(const std::shared_ptr<store::ConnectionPool>& pool,
                                 std::shared_ptr<const store::WriteFence> fence, store::DueDelivery d,
                                 Clock::time_point deadline) {
  std::lock_guard lk(mu_);
  if (stopped_) return;  // the claim runs out; the next leader or round sends it
  in_flight_++;
  per_endpoint_[d.webhook_id]++;
  flying_ids_.insert(d.id);
  const auto it = flights_.emplace(flights_.end());
  try {
    it->thread = std::thread([this, it, pool, fence = std::move(fence), d = std::move(d), deadline]() mutable {
      Landed l{pool, fence, attempt(d, deadline), d.event_id, d.attempts};
      {
        std::lock_guard g(mu_);
        // The slot is free once the answer is in; the id stays out of claims until recorded.
        in_flight_--;
        if (--per_endpoint_[d.webhook_id] <= 0) per_endpoint_.erase(d.webhook_id);
        landed_.push_back(std::move(l));
        it->done = true;
      }
      worker_.wake();  // records it and fills the slot
    });
  } catch (const std::system_error& e) {
    // No thread for it: undone here; its claim runs out and it is claimed again.
    in_flight_--;
    if (--per_endpoint_[d.webhook_id] <= 0) per_endpoint_.erase(d.webhook_id);
    flying_ids_.erase(d.id);
    flights_.erase(it);
    log::warn("webhook_thread_failed").kv("error", e.what());
  }
}

void WebhookSender::record_landed() {
  std::vector<Landed> landed;
  {
    std::lock_guard lk(mu_);
    landed.swap(landed_);
  }
  if (landed.empty()) return;
  // One statement per database for all the outcomes that came in since the last round.
  std::map<store::ConnectionPool*, std::vector<const Landed*>> by_pool;
  for (const auto& l : landed) by_pool[l.pool.get()].push_back(&l);
  std::vector<Landed> retry_later;
  for (const auto& [pool, ls] : by_pool) {
    Fences fences;
    std::vector<store::DeliveryResult> results;
    for (const auto* l : ls) {
      if (std::none_of(fences.begin(), fences.end(), [&](const auto& f) { return f == l->fence; }))
        fences.push_back(l->fence);
      results.push_back(l->result);
    }
    std::set<std::int64_t> recorded;
    try {
      recorded = pool->with([&](pg::Connection& c) { return store::finish_deliveries(c, fences, results); });
    } catch (const std::exception& e) {
      // Kept for the next round: their ids stay out of claims meanwhile (a stale fence is refused
      // then; a claim that ran out meanwhile is at most sent once more, under its event id).
      log::warn("webhook_record_failed").kv("attempts", static_cast<std::int64_t>(ls.size())).kv("error", e.what());
      for (const auto* l : ls) retry_later.push_back(*l);
      continue;
    }
    for (const auto* l : ls) {
      const auto& r = l->result;
      {
        std::lock_guard lk(mu_);
        flying_ids_.erase(r.id);
      }
      // Not recorded: the account moved (the new leader sends it again once the claim ran out).
      if (!recorded.count(r.id)) continue;
      // Counted once recorded, so a reader of the counters finds the rows written.
      if (r.outcome == store::DeliveryOutcome::delivered) delivered_++;
      if (r.outcome != store::DeliveryOutcome::delivered) failed_++;
      if (r.outcome == store::DeliveryOutcome::dead || r.outcome == store::DeliveryOutcome::gone) {
        dead_++;
        if (options_.on_dead_letter) options_.on_dead_letter();
      }
      log::info("webhook_attempt")
          .kv("business_id", r.business_id)
          .kv("delivery_id", r.id)
          .kv("event_id", l->event_id)
          .kv("attempt", l->attempt)
          .kv("status", r.http_status ? static_cast<std::int64_t>(*r.http_status) : 0)
          .kv("outcome", r.outcome == store::DeliveryOutcome::delivered ? "delivered"
                         : r.outcome == store::DeliveryOutcome::retry   ? "retry"
                         : r.outcome == store::DeliveryOutcome::gone    ? "gone"
                                                                        : "dead")
          .kv("error", r.error.value_or(""));
    }
  }
  if (!retry_later.empty()) {
    std::lock_guard lk(mu_);
    for (auto& l : retry_later) landed_.push_back(std::move(l));
  }
}

void WebhookSender::reap_flights() {
  std::list<Flight> ended;
  {
    std::lock_guard lk(mu_);
    for (auto it = flights_.begin(); it != flights_.end();) {
      const auto next = std::next(it);
      if (it->done) ended.splice(ended.end(), flights_, it);
      it = next;
    }
  }
  for (auto& f : ended) f.thread.join();  // each has only its return left
}

store::DeliveryResult WebhookSender::attempt(const store::DueDelivery& d, Clock::time_point deadline) const {
  const auto body = envelope(d.business_id, d.event_id, d.event_type, d.event_seq, d.event_created_at_ms, d.event_data);
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  store::DeliveryResult out;
  out.id = d.id;
  out.business_id = d.business_id;
  std::string why;
  const auto url = parse_webhook_url(d.url, &why);
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (!url) {
    out.error = why;
  } else if (left.count() <= 0) {
    out.error = "the claim ran out before the attempt";  // never POSTed past the claim's lease
  } else {
    std::string headers = fmt::format("webhook-id: {}\r\nwebhook-timestamp: {}\r\nwebhook-signature: {}\r\n",
                                      d.event_id, now, signature_header(d, now, body));
    const auto r = post_webhook(*url, headers, body, left);
    out.http_status = r.status;
    if (!r.status) out.error = r.error;
    if (r.status && *r.status >= 200 && *r.status < 300) {
      out.outcome = store::DeliveryOutcome::delivered;
    } else if (r.status && *r.status == 410) {
      out.outcome = store::DeliveryOutcome::gone;
    } else if (r.status && (*r.status == 429 || *r.status == 503) && r.retry_after_s) {
      out.retry_in_ms = std::min<std::int64_t>(*r.retry_after_s * 1000, options_.max_retry_after.count());
    }
  }
  if (out.outcome == store::DeliveryOutcome::retry) {
    const auto n = static_cast<std::size_t>(std::max<std::int64_t>(d.attempts, 1));
    if (n >= options_.schedule.size()) {
      out.outcome = store::DeliveryOutcome::dead;
    } else {
      out.retry_in_ms = std::max(out.retry_in_ms, jittered(options_.schedule[n], options_.jitter));
    }
  }
  return out;
}

}  // namespace wa::app::api
