// GET /v1/accounts/{business_id}/events: the account's events as Server-Sent Events, on any pod.
// The events are the rows webhooks deliver (store/events.h), so an SSE event has the same id
// (`id:` field, the webhook-id), type, sequence and envelope as the webhook for it. A client that
// reconnects with Last-Event-ID gets exactly the events after that one, from PostgreSQL; a new
// client starts at "now". NOTIFY on store::kEventChannel (through the pod's notify hub, no session
// of its own) only wakes the streams; they also read every `poll` interval, since a notify is lost
// while the hub reconnects. Reads borrow connections from the pod's store pool.
//
// A stream holds one civetweb worker for its whole life (civetweb cannot hand a socket over), so
// at most `max_streams` run at once: the others get 503 {"error":{"code":"too_many_streams"}}
// with Retry-After, and the remaining workers serve the REST calls (the probes have their own
// listener). Comment lines (": keepalive") go out every `heartbeat` so that proxies keep an idle
// stream open and a vanished client is noticed at the next write. Streams end when the server
// or this object stops.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "app/http_server.h"
#include "store/events.h"
#include "store/notify_hub.h"

namespace wa::store {
class ConnectionPool;
}

namespace wa::app::api {

struct EventStreamOptions {
  int max_streams = 8;
  std::chrono::milliseconds heartbeat{15000};
  std::chrono::milliseconds poll{2000};
  int batch = 100;  // events read per query
  // The pool holding an account's events (its tenant database's, store/tenants.h); empty: `pool`.
  std::function<std::shared_ptr<store::ConnectionPool>(const std::string& business_id)> data_pool;
};

class EventStreams : public std::enable_shared_from_this<EventStreams> {
 public:
  // Woken through `hub`; reads go through `pool`.
  EventStreams(store::NotifyHub& hub, std::shared_ptr<store::ConnectionPool> pool, EventStreamOptions options = {});
  ~EventStreams();  // stop()
  EventStreams(const EventStreams&) = delete;
  EventStreams& operator=(const EventStreams&) = delete;

  // The answer for an authorised request of `business_id` (validated): 503 past max_streams,
  // 404 unknown business, 400 for a Last-Event-ID that names no retained event of the business,
  // else 200 text/event-stream.
  HttpResponse open(const std::string& business_id, const HttpRequest& req);

  int active() const { return active_.load(); }
  void stop();  // ends every stream and the subscription; idempotent

 private:
  void bump();
  // Reads from `data`: the account's tenant database's pool, or pool_.
  void serve(StreamWriter& w, store::ConnectionPool& data, const std::string& business_id,
             store::EventCursor cursor);
  std::uint64_t generation() const;

  std::shared_ptr<store::ConnectionPool> pool_;
  EventStreamOptions options_;
  std::atomic<int> active_{0};
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t generation_ = 0;  // bumped on every notification (and on stop)
  store::NotifyHub::Subscription sub_;  // last: its handler uses the members above
};

}  // namespace wa::app::api
