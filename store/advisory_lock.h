// The advisory-lock SQL of leader election, in one place: account locks (one bigint key per
// account, see accounts.h for how keys are computed), the per-pod liveness lock, the lock-session
// heartbeat and the NOTIFY channel leaders use. Lock sessions send these asynchronously (ha/
// lock_session.h); the helpers below that take a pg::Connection run synchronously and are for
// short statements that take no row locks.
//
// Key spaces (per database): account locks are one-bigint advisory locks (pg_locks.objsubid 1);
// liveness locks are two-int locks (objsubid 2) in class kLivenessLockClass, next to the
// migration lock's class (migrator.h), so neither can collide with an account key.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "store/notify.h"
#include "store/pg.h"

namespace wa::store {

// Takes every key it can, one round trip: rows (k bigint, won boolean). $1 = key_array().
inline constexpr const char* kTryLocksSql =
    "SELECT k, pg_try_advisory_lock(k) FROM unnest($1::bigint[]) AS k";
// The balanced poll (ha/balance.h): tries the keys in $1 and probes those in $2 (is any session
// holding it right now?) without taking them. Rows (k bigint, won boolean, tried boolean, free
// boolean): (k, won, true, false) per key of $1, (k, false, false, nobody holds it) per key of $2.
inline constexpr const char* kTryAndProbeSql =
    "SELECT k, pg_try_advisory_lock(k), true, false FROM unnest($1::bigint[]) AS k"
    " UNION ALL"
    " SELECT p.k, false, false, p.k NOT IN"
    " (SELECT ((classid::bigint << 32) | objid::bigint)::bigint FROM pg_locks"
    "   WHERE locktype = 'advisory' AND objsubid = 1 AND granted"
    "   AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))"
    " FROM unnest($2::bigint[]) AS p(k)";
// Blocks until the key is granted (block-mode waiters). $1 = key.
inline constexpr const char* kWaitLockSql = "SELECT pg_advisory_lock($1::bigint)";
// Releases the keys: rows (k, released). $1 = key_array().
inline constexpr const char* kUnlockSql = "SELECT k, pg_advisory_unlock(k) FROM unnest($1::bigint[]) AS k";
// Takes one more key on a session that already leads (pairing moves the account's key). $1 = key.
inline constexpr const char* kTryOneLockSql = "SELECT pg_try_advisory_lock($1::bigint)";
// $1 = channel, $2 = payload (the leader channel is store::kLeaderChannel, notify.h).
inline constexpr const char* kNotifySql = "SELECT pg_notify($1, $2)";

// The lock-session heartbeat. It must never be pg_try_advisory_lock: locks stack, so one unlock
// would no longer release the key and a lost lock would be silently re-taken. It reads pg_locks
// for this backend instead, plus the backend's identity (pid, backend_start): behind a
// transaction-pooling proxy a statement may reach another backend (which may even hold the same
// key for another pod), so an identity that differs from the one the session started with means
// the session no longer is what holds the locks. Columns: pid int, started text, k bigint (one row
// per held bigint advisory key; one row with k NULL when none is held).
inline constexpr const char* kHeartbeatSql =
    "SELECT s.pid, s.started, l.k FROM"
    " (SELECT pg_backend_pid() AS pid,"
    "   (SELECT backend_start::text FROM pg_stat_activity WHERE pid = pg_backend_pid()) AS started) s"
    " LEFT JOIN (SELECT ((classid::bigint << 32) | objid::bigint)::bigint AS k FROM pg_locks"
    "   WHERE locktype = 'advisory' AND objsubid = 1 AND granted AND pid = pg_backend_pid()"
    "   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())) l ON true";

// Who this session's backend is: columns pid int, started text.
inline constexpr const char* kSessionIdentitySql =
    "SELECT pg_backend_pid(), (SELECT backend_start::text FROM pg_stat_activity WHERE pid = "
    "pg_backend_pid())";

struct SessionIdentity {
  int pid = 0;
  std::string started;  // backend_start as text
  bool operator==(const SessionIdentity&) const = default;
};

// From a kHeartbeatSql (or kSessionIdentitySql) result.
SessionIdentity session_identity(const pg::Result& r);
// Keys from a kHeartbeatSql result (column "k"; NULL rows skipped).
std::set<std::int64_t> held_keys(const pg::Result& r);

// The liveness lock: each pod holds it on a session of its own for as long as it runs. A new
// leader asks whether the previous holder's pod still holds it (alive: it may still have a
// connection open and must be waited for) or not (dead: its process and connections are gone).
inline constexpr int kLivenessLockClass = 1463897174;  // "WALV"
// $1 = class, $2 = pod. Returns one boolean (taken).
inline constexpr const char* kTryLivenessLockSql =
    "SELECT pg_try_advisory_lock($1::int, hashtext('pod:' || $2))";
// $1 = class, $2 = pod. Returns one boolean: some session holds the pod's liveness lock.
inline constexpr const char* kPodAliveSql =
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND granted"
    " AND classid = $1::int::oid AND objid = hashtext('pod:' || $2)::oid"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))";

// The takeover hold's check: $1 = class, $2 = pod, $3 = business_id, $4 = its epoch. True while
// the pod holds its liveness lock AND has not recorded (ha_events) that it stopped that lease or a
// later one. The durable record matters after a primary failover: the old leader's NOTIFY may
// have gone out before the new leader listened, but its queued 'fenced' event reaches the new
// primary once its store session is back.
inline constexpr const char* kPreviousLeaderActiveSql =
    "SELECT wa_previous_leader_active($1::int, $2, $3, $4::bigint)";

// The peer-watch lock: held next to the liveness lock on the same session, waited for by the
// other pods (ha/peer_waiters.h) in shared mode, so that they learn of the pod's death the moment
// its session ends. A lock of its own, not the liveness lock: a waiter granted for a moment must
// never look like the pod being alive to a takeover's liveness check.
inline constexpr int kPeerWatchLockClass = 1463897175;  // "WALW"
// $1 = class, $2 = pod: waits while the pod holds its peer-watch lock (exclusively), then lets
// the shared grant go again in the same statement. true: the pod held it and no longer does (its
// session ended); false: it did not hold it when asked (gone already, or an older version).
inline constexpr const char* kWaitPeerSql =
    "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2"
    " AND granted AND mode = 'ExclusiveLock' AND classid = $1::int::oid AND objid = hashtext('pod:' || "
    "$2)::oid"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))"
    " THEN (SELECT pg_advisory_unlock_shared($1::int, hashtext('pod:' || $2))"
    "       FROM pg_advisory_lock_shared($1::int, hashtext('pod:' || $2)) AS w)"
    " ELSE false END";

// `lock_class`: kLivenessLockClass, or kPeerWatchLockClass for the peer-watch lock.
bool try_liveness_lock(pg::Connection& conn, const std::string& pod, int lock_class = kLivenessLockClass);
bool pod_alive(pg::Connection& conn, const std::string& pod);

// A bigint[] literal for $1 of kTryLocksSql / kUnlockSql.
std::string key_array(const std::vector<std::int64_t>& keys);

// What a leader announces on kLeaderChannel (notify.h): it stopped acting for the account's lease `epoch`
// (kind "resigned" after a graceful hand-over or give-up, "fenced" after it lost its lock).
struct LeaderNotice {
  std::string business_id;
  std::int64_t epoch = 0;
  std::string kind;
  std::string pod;
};
std::string notice_payload(const LeaderNotice& n);
// The one notice sent TO a leader: `waconnector accounts step-down` asks pod `pod` to give up
// lease `epoch` of the account (it acts only when both still match).
inline constexpr std::string_view kStepDownNotice = "step-down";
// nullopt for a payload of another shape (older pods sent the bare business_id).
std::optional<LeaderNotice> parse_notice(std::string_view payload);

}  // namespace wa::store
