#include "app/api/event_stream.h"

#include <algorithm>
#include <exception>

#include <fmt/format.h>

#include "app/api/webhook_sender.h"
#include "common/log.h"
#include "store/accounts.h"
#include "store/connection_pool.h"
#include "store/notify.h"

namespace wa::app::api {
namespace {

using Clock = std::chrono::steady_clock;

// Gives a stream slot back when the stream (or an answer never streamed) is done.
struct Slot {
  explicit Slot(std::atomic<int>& n) : n_(n) {}
  ~Slot() { n_.fetch_sub(1); }
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;
  std::atomic<int>& n_;
};

// One SSE event: the event id, its type as the SSE event name, the webhook envelope as data
// (JSON text has no newline, so one data line).
std::string sse_event(const std::string& business_id, const store::StreamEvent& e) {
  return fmt::format("id: {}\nevent: {}\ndata: {}\n\n", e.id, e.type,
                     WebhookSender::envelope(business_id, e.id, e.type, e.seq, e.created_at_ms, e.data));
}

}  // namespace

EventStreams::EventStreams(store::NotifyHub& hub, std::shared_ptr<store::ConnectionPool> pool,
                           EventStreamOptions options)
    : pool_(std::move(pool)), options_(options) {
  options_.max_streams = std::max(options_.max_streams, 0);
  options_.batch = std::clamp(options_.batch, 1, 1000);
  // A notification or a hub reconnect (notifications may have been missed) wakes every stream.
  sub_ = hub.subscribe(std::string(store::kEventChannel), [this](const store::Notice&) { bump(); });
}

EventStreams::~EventStreams() { stop(); }

void EventStreams::bump() {
  {
    std::lock_guard lk(mu_);
    ++generation_;
  }
  cv_.notify_all();
}

void EventStreams::stop() {
  if (!stopping_.exchange(true)) bump();
  sub_.reset();
}

std::uint64_t EventStreams::generation() const {
  std::lock_guard lk(mu_);
  return generation_;
}

HttpResponse EventStreams::open(const std::string& business_id, const HttpRequest& req) {
  if (stopping_) return HttpResponse::json_error(503, "the server is shutting down");
  if (active_.fetch_add(1) >= options_.max_streams) {
    active_.fetch_sub(1);
    auto r = HttpResponse::json_error(
        503,
        fmt::format("this pod serves {} event streams already; try again or another pod",
                    options_.max_streams),
        "too_many_streams");
    r.headers = "Retry-After: 5\r\n";
    return r;
  }
  auto slot = std::make_shared<Slot>(active_);
  std::optional<store::EventCursor> cursor;
  const bool known = pool_->with([&](pg::Connection& c) { return store::get_account(c, business_id).has_value(); });
  const auto data = known && options_.data_pool ? options_.data_pool(business_id) : pool_;
  if (known)
    data->with([&](pg::Connection& c) {
      cursor = req.last_event_id.empty() ? store::events_now(c, business_id)
                                         : store::event_cursor(c, business_id, req.last_event_id);
    });
  if (!known) return HttpResponse::json_error(404, fmt::format("business {} is not registered", business_id));
  if (!cursor)
    return HttpResponse::json_error(
        400, "Last-Event-ID names no retained event of this business; reconnect without it to start from now",
        "unknown_event_id");
  HttpResponse r;
  r.content_type = "text/event-stream";
  r.stream = [self = shared_from_this(), slot, business_id, data, c = *cursor](StreamWriter& w) {
    self->serve(w, *data, business_id, c);
  };
  return r;
}

void EventStreams::serve(StreamWriter& w, store::ConnectionPool& data, const std::string& business_id,
                         store::EventCursor cursor) {
  log::info("event_stream_opened").kv("business_id", business_id).kv("streams", active_.load());
  // The reconnect delay EventSource clients use; also shows the client at once that it is open.
  bool open = w.write(": stream of business events\nretry: 2000\n\n");
  auto seen = generation();
  auto next_read = Clock::now();
  auto next_beat = Clock::now() + options_.heartbeat;
  std::int64_t sent = 0;
  while (open && !w.stopping() && !stopping_) {
    const auto gen = generation();
    if (gen != seen || Clock::now() >= next_read) {
      seen = gen;
      try {
        for (;;) {
          const auto events = data.with(
              [&](pg::Connection& c) { return store::read_events(c, business_id, cursor, options_.batch); });
          std::string out;
          for (const auto& e : events) out += sse_event(business_id, e);
          if (!events.empty()) {
            open = w.write(out);
            if (!open) break;
            cursor = events.back().cursor;
            sent += static_cast<std::int64_t>(events.size());
            next_beat = Clock::now() + options_.heartbeat;
          }
          if (static_cast<int>(events.size()) < options_.batch) break;
        }
      } catch (const std::exception& e) {
        // The client reconnects with its Last-Event-ID and misses nothing.
        log::warn("event_stream_read_failed").kv("business_id", business_id).kv("error", e.what());
        break;
      }
      next_read = Clock::now() + options_.poll;
    }
    if (!open) break;
    if (Clock::now() >= next_beat) {
      open = w.write(": keepalive\n\n");
      next_beat = Clock::now() + options_.heartbeat;
    }
    // Short slices: the server's stop is seen through w.stopping(), which nothing notifies.
    const auto until = std::min({next_read, next_beat, Clock::now() + std::chrono::milliseconds(200)});
    std::unique_lock lk(mu_);
    cv_.wait_until(lk, until, [&] { return generation_ != seen || stopping_.load(); });
  }
  log::info("event_stream_closed").kv("business_id", business_id).kv("events", sent);
}

}  // namespace wa::app::api
