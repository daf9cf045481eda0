// Reading the event log (wa_events, migration 0009; written by triggers) as a stream: the SSE
// endpoint's queries. Events are read in commit order, not `seq` order (migration 0012 says why):
// a cursor is the (transaction id, seq) of the last event read, and only events of transactions
// older than every running one are returned, so a cursor never skips an event committed later.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/pg.h"

namespace wa::store {

struct EventCursor {
  std::string tx = "0";  // xid8 as decimal text
  std::int64_t seq = 0;
};

struct StreamEvent {
  std::string id;  // evt_...: the stable id webhooks carry as webhook-id
  std::string type;
  std::int64_t seq = 0;
  std::int64_t created_at_ms = 0;
  std::string data;  // JSON text
  EventCursor cursor;
};

// Where a stream that starts now begins: after every event readable now.
EventCursor events_now(pg::Connection& conn, const std::string& business_id);
// The cursor of event `event_id` of the business (a client's Last-Event-ID); nullopt when there is
// no such event (unknown, another business's, or pruned).
std::optional<EventCursor> event_cursor(pg::Connection& conn, const std::string& business_id,
                                        const std::string& event_id);
// Up to `limit` events after `after`, in commit order.
std::vector<StreamEvent> read_events(pg::Connection& conn, const std::string& business_id, const EventCursor& after,
                                     int limit);

}  // namespace wa::store
