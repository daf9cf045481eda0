// ha_events: the append-only history of leadership transitions, for operators and for measuring
// failovers (timestamps come from the database clock, clock_timestamp(), so events written by
// different pods are comparable).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/pg.h"

namespace wa::store {

enum class EventKind { acquired, resigned, fenced, lost, takeover };
const char* to_string(EventKind k);
std::optional<EventKind> parse_event_kind(std::string_view s);

struct HaEvent {
  std::int64_t id = 0;  // increasing; use as a cursor
  std::int64_t at_ms = 0;  // Unix milliseconds (database clock)
  std::string business_id;
  std::string pod;
  EventKind kind = EventKind::acquired;
  std::optional<std::int64_t> epoch;
  std::optional<std::int64_t> duration_ms;
  std::string details;  // free text (JSON or a sentence); never secrets or unmasked phone numbers
};

// Appends one event (its own statement, autocommit unless `conn` is inside a transaction);
// returns its id. Not fenced: a fenced leader may still record that it fenced.
std::int64_t record_event(pg::Connection& conn, const std::string& business_id, const std::string& pod,
                          EventKind kind, std::optional<std::int64_t> epoch,
                          std::optional<std::int64_t> duration_ms, std::string_view details = {});

// Events with id > after_id, oldest first, optionally of one account; at most `limit`.
std::vector<HaEvent> list_events(pg::Connection& conn, const std::optional<std::string>& business_id = std::nullopt,
                                 std::int64_t after_id = 0, int limit = 1000);

}  // namespace wa::store
