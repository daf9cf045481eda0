#include "app/api/webhook_sender.h"

#include <openssl/rand.h>

#include <algorithm>
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
    : led_(std::move(led)),
      options_(std::move(options)),
      worker_(hub, std::move(pool), {"webhook_sender", std::string(store::kWebhookChannel), options_.poll_interval, true},
              [this](store::ConnectionPool& p, bool) { round(p); }) {}

void WebhookSender::round(store::ConnectionPool& control) {
  const auto claim_ms = options_.request_timeout.count() + 5000;
  const auto led = led_();
  // A tenant account's events, endpoints and deliveries live in its tenant database.
  std::map<std::string, std::shared_ptr<store::ConnectionPool>> tenant;
  if (options_.tenant_pools) {
    std::vector<std::string> ids;
    for (const auto& fence : led) ids.push_back(fence->business_id());
    tenant = options_.tenant_pools(ids);
  }
  const auto pool_of = [&](const std::string& b) -> store::ConnectionPool& {
    const auto it = tenant.find(b);
    return it == tenant.end() ? control : *it->second;
  };
  if (std::chrono::steady_clock::now() >= next_prune_) {
    next_prune_ = std::chrono::steady_clock::now() + options_.prune_interval;
    for (const auto& fence : led) {
      try {
        const auto n = pool_of(fence->business_id()).with(
            [&](pg::Connection& c) { return store::prune_events(c, *fence, options_.event_retention.count()); });
        if (n > 0) log::info("events_pruned").kv("business_id", fence->business_id()).kv("events", n);
      } catch (const store::EpochMoved&) {
      }
    }
  }
  for (const auto& fence : led) {
    if (worker_.stopping()) break;
    if (const auto t = tenant.find(fence->business_id()); t != tenant.end() && options_.tenant_round) {
      try {
        options_.tenant_round(*fence, control, *t->second);
      } catch (const store::EpochMoved&) {
        continue;
      } catch (const std::exception& e) {
        log::warn("tenant_round_failed").kv("business_id", fence->business_id()).kv("error", e.what());
      }
    }
    std::vector<store::DueDelivery> due;
    try {
      due = pool_of(fence->business_id()).with(
          [&](pg::Connection& c) { return store::claim_deliveries(c, *fence, options_.batch, claim_ms); });
    } catch (const store::EpochMoved&) {
      continue;  // no longer ours: the new leader sends them
    }
    for (const auto& d : due) {
      if (worker_.stopping()) break;
      if (!deliver(pool_of(fence->business_id()), *fence, d)) break;
    }
  }
  if (options_.on_pending) {
    std::vector<std::string> ids;
    for (const auto& fence : led)
      if (!tenant.count(fence->business_id())) ids.push_back(fence->business_id());
    auto n = control.with([&](pg::Connection& c) { return store::count_pending_deliveries(c, ids); });
    for (const auto& [b, p] : tenant)
      n += p->with([&, b = b](pg::Connection& c) { return store::count_pending_deliveries(c, {b}); });
    options_.on_pending(n);
  }
}

bool WebhookSender::deliver(store::ConnectionPool& pool, const store::WriteFence& fence, const store::DueDelivery& d) {
  const auto body =
      envelope(fence.business_id(), d.event_id, d.event_type, d.event_seq, d.event_created_at_ms, d.event_data);
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  store::DeliveryOutcome outcome = store::DeliveryOutcome::retry;
  std::optional<int> status;
  std::optional<std::string> error;
  std::int64_t retry_in = 0;
  std::string why;
  const auto url = parse_webhook_url(d.url, &why);
  if (!url) {
    error = why;
  } else {
    std::string headers = fmt::format("webhook-id: {}\r\nwebhook-timestamp: {}\r\nwebhook-signature: {}\r\n",
                                      d.event_id, now, signature_header(d, now, body));
    const auto r = post_webhook(*url, headers, body, options_.request_timeout);
    status = r.status;
    if (!r.status) error = r.error;
    if (r.status && *r.status >= 200 && *r.status < 300) {
      outcome = store::DeliveryOutcome::delivered;
    } else if (r.status && *r.status == 410) {
      outcome = store::DeliveryOutcome::gone;
    } else if (r.status && (*r.status == 429 || *r.status == 503) && r.retry_after_s) {
      retry_in = std::min<std::int64_t>(*r.retry_after_s * 1000, options_.max_retry_after.count());
    }
  }
  if (outcome == store::DeliveryOutcome::retry) {
    const auto n = static_cast<std::size_t>(std::max<std::int64_t>(d.attempts, 1));
    if (n >= options_.schedule.size()) {
      outcome = store::DeliveryOutcome::dead;
    } else {
      retry_in = std::max(retry_in, jittered(options_.schedule[n], options_.jitter));
    }
  }
  try {
    pool.with([&](pg::Connection& c) { store::finish_delivery(c, fence, d.id, outcome, status, error, retry_in); });
  } catch (const store::EpochMoved&) {
    return false;  // the claim runs out and the new leader retries it (same event id)
  }
  // Counted once recorded, so a reader of the counters finds the rows written.
  if (outcome == store::DeliveryOutcome::delivered) delivered_++;
  if (outcome != store::DeliveryOutcome::delivered) failed_++;
  if (outcome == store::DeliveryOutcome::dead || outcome == store::DeliveryOutcome::gone) {
    dead_++;
    if (options_.on_dead_letter) options_.on_dead_letter();
  }
  log::info("webhook_attempt")
      .kv("business_id", fence.business_id())
      .kv("delivery_id", d.id)
      .kv("event_id", d.event_id)
      .kv("attempt", d.attempts)
      .kv("status", status ? static_cast<std::int64_t>(*status) : 0)
      .kv("outcome", outcome == store::DeliveryOutcome::delivered ? "delivered"
                     : outcome == store::DeliveryOutcome::retry   ? "retry"
                     : outcome == store::DeliveryOutcome::gone    ? "gone"
                                                                  : "dead")
      .kv("error", error.value_or(""));
  return true;
}

}  // namespace wa::app::api
