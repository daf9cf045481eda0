#include "store/ha_events.h"

#include <fmt/format.h>

#include "store/accounts.h"
#include "store/enum_names.h"
#include "store/errors.h"
#include "store/row.h"

namespace wa::store {

namespace {
constexpr EnumNames<EventKind, 5> kEventKinds{{{EventKind::acquired, "acquired"},
                                               {EventKind::resigned, "resigned"},
                                               {EventKind::fenced, "fenced"},
                                               {EventKind::lost, "lost"},
                                               {EventKind::takeover, "takeover"}}};
}  // namespace

const char* to_string(EventKind k) { return enum_name(kEventKinds, k); }

std::optional<EventKind> parse_event_kind(std::string_view s) { return enum_parse(kEventKinds, s); }

std::int64_t record_event(pg::Connection& conn, const std::string& business_id, const std::string& pod,
                          EventKind kind, std::optional<std::int64_t> epoch, std::optional<std::int64_t> duration_ms,
                          std::string_view details) {
  pg::TenantScope tenant(conn, business_id);
  auto r = conn.exec(fmt::format("record ha event '{}' of business {}", to_string(kind), business_id),
                     "INSERT INTO ha_events (business_id, pod, kind, epoch, duration_ms, details)"
                     " VALUES ($1, $2, $3, $4::bigint, $5::bigint, $6) RETURNING id",
                     {pg::Param(business_id), pg::Param(pod), pg::Param(to_string(kind)), pg::Param(epoch),
                      pg::Param(duration_ms), pg::Param(details)});
  return r.i64(0, 0);
}

std::vector<HaEvent> list_events(pg::Connection& conn, const std::optional<std::string>& business_id,
                                 std::int64_t after_id, int limit) {
  // All: the registered accounts' events (under row-level security, those of a removed account
  // are no longer listed).
  pg::TenantScope tenant(conn, business_id ? std::vector<std::string>{*business_id} : account_ids(conn));
  auto r = conn.exec("list ha events",
                     "SELECT id, (extract(epoch FROM at) * 1000)::bigint, business_id, pod, kind, epoch, duration_ms,"
                     " details FROM ha_events WHERE id > $1::bigint AND ($2::text IS NULL OR business_id = $2)"
                     " ORDER BY id LIMIT $3::int",
                     {pg::Param(after_id), pg::Param(business_id), pg::Param(limit)});
  return pg::read_rows<HaEvent>(r, [](const pg::Result& res, int i) {
    HaEvent e;
    std::string kind;
    pg::read_row(res, i, e.id, e.at_ms, e.business_id, e.pod, kind, e.epoch, e.duration_ms, e.details);
    auto k = parse_event_kind(kind);
    if (!k) throw StoreError(fmt::format("ha_events row {} has unknown kind '{}'", e.id, kind));
    e.kind = *k;
    return e;
  });
}

}  // namespace wa::store
