#include "store/members.h"

#include <fmt/format.h>

#include "store/advisory_lock.h"
#include "store/row.h"

namespace wa::store {

void register_member(pg::Connection& conn, const std::string& pod, const std::string& version, int backend_pid) {
  conn.exec(fmt::format("register pod {}", pod),
            "INSERT INTO ha_members (pod, started_at, heartbeat_at, version, accounts_led, backend_pid)"
            " VALUES ($1, clock_timestamp(), clock_timestamp(), $2, 0, $3::int)"
            " ON CONFLICT (pod) DO UPDATE SET started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,"
            " version = excluded.version, accounts_led = 0, backend_pid = excluded.backend_pid",
            {pod, version, backend_pid});
}

void heartbeat_member(pg::Connection& conn, const std::string& pod, const std::string& version, int leading,
                      int backend_pid) {
  conn.exec(fmt::format("heartbeat of pod {}", pod),
            "INSERT INTO ha_members (pod, version, accounts_led, backend_pid) VALUES ($1, $2, $3::int, $4::int)"
            " ON CONFLICT (pod) DO UPDATE SET heartbeat_at = clock_timestamp(), version = excluded.version,"
            " accounts_led = excluded.accounts_led, backend_pid = excluded.backend_pid",
            {pod, version, leading, backend_pid});
}

void remove_member(pg::Connection& conn, const std::string& pod) {
  conn.exec(fmt::format("remove pod {}", pod), "DELETE FROM ha_members WHERE pod = $1", {pod});
}

std::vector<Member> list_members(pg::Connection& conn, std::optional<std::chrono::milliseconds> alive_within) {
  std::optional<std::int64_t> within;
  if (alive_within) within = alive_within->count();
  auto r = conn.exec("list pods",
                     "SELECT pod, (extract(epoch FROM started_at) * 1000)::bigint,"
                     " (extract(epoch FROM heartbeat_at) * 1000)::bigint, version, accounts_led, backend_pid"
                     " FROM ha_members"
                     " WHERE $1::bigint IS NULL OR heartbeat_at >= clock_timestamp() - $1::bigint * interval '1 ms'"
                     " ORDER BY pod",
                     {pg::Param(within)});
  return pg::read_rows<Member>(r, [](const pg::Result& res, int i) {
    Member m;
    pg::read_row(res, i, m.pod, m.started_at_ms, m.heartbeat_at_ms, m.version, m.leading, m.backend_pid);
    return m;
  });
}

std::vector<Member> list_live_members(pg::Connection& conn) {
  auto r = conn.exec("list live pods",
                     "SELECT m.pod, (extract(epoch FROM m.started_at) * 1000)::bigint,"
                     " (extract(epoch FROM m.heartbeat_at) * 1000)::bigint, m.version, m.accounts_led, m.backend_pid"
                     " FROM ha_members m WHERE EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory'"
                     " AND l.objsubid = 2 AND l.granted AND l.mode = 'ExclusiveLock' AND l.classid = $1::int::oid"
                     " AND l.objid = hashtext('pod:' || m.pod)::oid"
                     " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))"
                     " ORDER BY m.pod",
                     {kLivenessLockClass});
  return pg::read_rows<Member>(r, [](const pg::Result& res, int i) {
    Member m;
    pg::read_row(res, i, m.pod, m.started_at_ms, m.heartbeat_at_ms, m.version, m.leading, m.backend_pid);
    return m;
  });
}

}  // namespace wa::store
