// The lock-session heartbeat. It must never be pg_try_advisory_lock: a session that already holds
// a lock gets it again (locks stack), so one unlock would no longer release it and a lost lock
// would be silently re-taken instead of detected. Instead it reads pg_locks for this backend: a
// key we believe we hold but that is missing there means the lock is gone (transaction-pooling
// PgBouncer handed us another backend, or the server restarted) and the account must fence.
#pragma once

#include <cstdint>
#include <set>
#include <vector>

#include "store/pg.h"

namespace wa::ha {

// One row per bigint advisory lock granted to this backend in this database. A bigint key is
// stored as classid (high 32 bits) and objid (low 32 bits) with objsubid 1.
inline constexpr const char* kHeartbeatSql =
    "SELECT ((l.classid::bigint << 32) | l.objid::bigint)::bigint AS k FROM pg_locks l"
    " WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted AND l.pid = pg_backend_pid()"
    " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())";

// Keys from a heartbeat result.
std::set<std::int64_t> held_keys(const pg::Result& r);
// Keys in `expected` that `held` lacks.
std::vector<std::int64_t> missing_keys(const std::set<std::int64_t>& expected, const std::set<std::int64_t>& held);

}  // namespace wa::ha
