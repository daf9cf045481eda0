// The lock-session heartbeat (SQL in store/advisory_lock.h). It must never be
// pg_try_advisory_lock: a session that already holds a lock gets it again (locks stack), so one
// unlock would no longer release it and a lost lock would be silently re-taken instead of
// detected. It reads pg_locks for this backend: a key we believe we hold but that is missing
// there means the lock is gone (transaction-pooling PgBouncer handed us another backend, or the
// server restarted) and the account must fence; so does a backend identity that changed.
#pragma once

#include <cstdint>
#include <set>
#include <vector>

#include "store/advisory_lock.h"
#include "store/pg.h"

namespace wa::ha {

inline constexpr const char* kHeartbeatSql = store::kHeartbeatSql;

// Keys from a heartbeat result.
inline std::set<std::int64_t> held_keys(const pg::Result& r) {
  return store::held_keys(r);
}
// Keys in `expected` that `held` lacks.
std::vector<std::int64_t> missing_keys(const std::set<std::int64_t>& expected,
                                       const std::set<std::int64_t>& held);

}  // namespace wa::ha
