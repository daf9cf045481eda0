#include "app/api/webhook_sender.h"

#include <fcntl.h>
#include <unistd.h>

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
#include "ha/store_session.h"
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
  if (d.previous_secret) h += " " + sign_webhook(*d.previous_secret, d.event_id, now, body);
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

WebhookSender::WebhookSender(std::string database_url, LedAccounts led, WebhookSenderOptions options)
    : url_(std::move(database_url)), led_(std::move(led)), options_(std::move(options)) {
  int p[2];
  if (::pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0)
    throw std::runtime_error("webhook sender: cannot create a pipe");
  wake_read_ = p[0];
  wake_write_ = p[1];
  thread_ = std::thread([this] { run(); });
}

WebhookSender::~WebhookSender() {
  stop();
  ::close(wake_read_);
  ::close(wake_write_);
}

void WebhookSender::stop() {
  if (stopping_.exchange(true)) {
    if (thread_.joinable()) thread_.join();
    return;
  }
  const char b = 1;
  [[maybe_unused]] auto n = ::write(wake_write_, &b, 1);
  if (thread_.joinable()) thread_.join();
}

void WebhookSender::run() {
  pg::Connection conn;
  const auto claim_ms = options_.request_timeout.count() + 5000;
  auto next_prune = std::chrono::steady_clock::now();
  while (!stopping_) {
    try {
      if (!conn.ok()) {
        conn = ha::open_worker_session(url_, "webhook sender", "waconnector/webhooks");
        store::listen(conn, store::kWebhookChannel);
      }
      const auto led = led_();
      if (std::chrono::steady_clock::now() >= next_prune) {
        next_prune = std::chrono::steady_clock::now() + options_.prune_interval;
        for (const auto& fence : led) {
          try {
            if (const auto n = store::prune_events(conn, *fence, options_.event_retention.count()); n > 0)
              log::info("events_pruned").kv("business_id", fence->business_id()).kv("events", n);
          } catch (const store::EpochMoved&) {
          }
        }
      }
      for (const auto& fence : led) {
        if (stopping_) break;
        std::vector<store::DueDelivery> due;
        try {
          due = store::claim_deliveries(conn, *fence, options_.batch, claim_ms);
        } catch (const store::EpochMoved&) {
          continue;  // no longer ours: the new leader sends them
        }
        for (const auto& d : due) {
          if (stopping_) break;
          const auto body = envelope(fence->business_id(), d.event_id, d.event_type, d.event_seq,
                                     d.event_created_at_ms, d.event_data);
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
            std::string headers =
                fmt::format("webhook-id: {}\r\nwebhook-timestamp: {}\r\nwebhook-signature: {}\r\n",
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
            store::finish_delivery(conn, *fence, d.id, outcome, status, error, retry_in);
          } catch (const store::EpochMoved&) {
            break;  // the claim runs out and the new leader retries it (same event id)
          }
          // Counted once recorded, so a reader of the counters finds the rows written.
          if (outcome == store::DeliveryOutcome::delivered) delivered_++;
          if (outcome != store::DeliveryOutcome::delivered) failed_++;
          if (outcome == store::DeliveryOutcome::dead || outcome == store::DeliveryOutcome::gone) {
            dead_++;
            if (options_.on_dead_letter) options_.on_dead_letter();
          }
          log::info("webhook_attempt")
              .kv("business_id", fence->business_id())
              .kv("delivery_id", d.id)
              .kv("event_id", d.event_id)
              .kv("attempt", d.attempts)
              .kv("status", status ? static_cast<std::int64_t>(*status) : 0)
              .kv("outcome", outcome == store::DeliveryOutcome::delivered ? "delivered"
                             : outcome == store::DeliveryOutcome::retry   ? "retry"
                             : outcome == store::DeliveryOutcome::gone    ? "gone"
                                                                          : "dead")
              .kv("error", error.value_or(""));
        }
      }
      if (options_.on_pending) {
        std::vector<std::string> ids;
        for (const auto& fence : led) ids.push_back(fence->business_id());
        options_.on_pending(store::count_pending_deliveries(conn, ids));
      }
      store::wait_for_notify(conn, options_.poll_interval, wake_read_);
    } catch (const std::exception& e) {
      log::warn("webhook_sender_error").kv("error", e.what());
      conn.close();
      // Back off before reconnecting; a stop() ends this at once.
      {
        char b;
        for (auto waited = std::chrono::milliseconds(0); waited < options_.poll_interval && !stopping_;
             waited += std::chrono::milliseconds(50)) {
          if (::read(wake_read_, &b, 1) > 0) break;
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
      }
    }
  }
}

}  // namespace wa::app::api
