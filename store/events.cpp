#include "store/events.h"

#include <fmt/format.h>

namespace wa::store {
namespace {

// Only transactions that can no longer commit an event below the cursor: those older than the
// oldest one still running.
constexpr const char* kSettled = "tx < pg_snapshot_xmin(pg_current_snapshot())";

}  // namespace

EventCursor events_now(pg::Connection& conn, const std::string& business_id) {
  const pg::TenantScope scope(conn, business_id);
  auto r = conn.exec(fmt::format("start event stream of business {}", business_id),
                     (std::string("SELECT tx::text, seq FROM wa_events WHERE business_id = $1 AND ") + kSettled +
                      " ORDER BY tx DESC, seq DESC LIMIT 1")
                         .c_str(),
                     {business_id});
  if (r.rows() == 0) return {};
  return {std::string(r.text(0, 0)), r.i64(0, 1)};
}

std::optional<EventCursor> event_cursor(pg::Connection& conn, const std::string& business_id,
                                        const std::string& event_id) {
  const pg::TenantScope scope(conn, business_id);
  auto r = conn.exec(fmt::format("find event of business {}", business_id),
                     "SELECT tx::text, seq FROM wa_events WHERE business_id = $1 AND id = $2", {business_id, event_id});
  if (r.rows() == 0) return std::nullopt;
  return EventCursor{std::string(r.text(0, 0)), r.i64(0, 1)};
}

std::vector<StreamEvent> read_events(pg::Connection& conn, const std::string& business_id, const EventCursor& after,
                                     int limit) {
  const pg::TenantScope scope(conn, business_id);
  auto r = conn.exec(fmt::format("read events of business {}", business_id),
                     (std::string("SELECT id, type, seq, (extract(epoch FROM created_at) * 1000)::bigint, data::text,"
                                  " tx::text FROM wa_events WHERE business_id = $1"
                                  " AND (tx, seq) > ($2::xid8, $3::bigint) AND ") +
                      kSettled + " ORDER BY tx, seq LIMIT $4::int")
                         .c_str(),
                     {business_id, after.tx, after.seq, limit});
  std::vector<StreamEvent> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    StreamEvent e;
    e.id = std::string(r.text(i, 0));
    e.type = std::string(r.text(i, 1));
    e.seq = r.i64(i, 2);
    e.created_at_ms = r.i64(i, 3);
    e.data = std::string(r.text(i, 4));
    e.cursor = {std::string(r.text(i, 5)), e.seq};
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace wa::store
