// The per-pod elector: competes for the advisory lock of every account this pod serves, leads the
// ones it wins (begin_lease -> epoch -> a Lease the supervisor starts the connection under),
// heartbeats the lock session(s), fences on the heartbeat deadline or a lost lock, and resigns
// gracefully on stop(). The pieces it is made of, one job each:
//   wake_loop     the thread's sleep (poll on lock sockets + a wake pipe)
//   lock_slot     one lock session and its one statement in flight -> won / lost / begun
//   account_lease one account's role and lease; transition() refuses illegal edges
//   lease         what a connection runs under (epoch, write fence, freshness, key move)
//   session_watch a thread that fences at once when a lock session's socket closes, holds the
//                 pod's liveness lock and carries leader notices
//   event_recorder ha_events, ha_members and end-of-lease status, on a thread of its own
//   lock_move     pairing's move to the jid key
//   fencing       FenceGuard: the heartbeat deadline on a thread of its own
//
// Threads: run() is the elector's thread. Lock-session statements that may wait (heartbeat, lock
// attempts, begin_lease, liveness checks) are asynchronous with a client-side deadline; a few
// short ones (unlock, NOTIFY, reading the account, a key move) are synchronous. No store write
// that can wait on a row lock runs on this thread (event_recorder), and a lost lock is acted on by
// the session watch even while this thread is busy.
//
// Takeover: when begin_lease finds that the previous holder's pod still holds its liveness lock,
// the connection starts only after that pod said it stopped (NOTIFY fenced/resigned for the old
// epoch), its liveness lock is gone, or fence_after (+1 s) passed since the lock was won: the old
// holder's own lease cannot outlast that. A dead previous holder means connecting at once.
//
// Standby modes:
//   poll  (default) one lock session per pod; ONE try-lock query per tick for all candidate keys,
//         jittered interval; a resigning leader's NOTIFY wakes it;
//   block one waiter session per account blocked in pg_advisory_lock(k); the winning waiter
//         becomes that account's lock session (crash takeover at the physical limit).
// In poll mode a crash is noticed as fast: one session per live peer waits on that peer's
// peer-watch lock (ha/peer_waiters.h) and a try-lock tick runs the moment it is granted.
// Balanced leadership (poll mode): ha/balance.h and ha/elector_balance.cpp.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "core/connection.h"
#include "ha/account_state.h"
#include "ha/activity_batch.h"
#include "ha/backoff.h"
#include "ha/fencing.h"
#include "ha/lease.h"
#include "ha/lock_session.h"
#include "ha/supervisor.h"
#include "store/accounts.h"
#include "store/advisory_lock.h"
#include "store/connection_pool.h"

namespace wa::ha {

enum class StandbyWait { poll, block };

inline constexpr std::string_view kLeaderChannel = store::kLeaderChannel;

struct ElectorConfig {
  std::string database_url;
  std::string pod;
  // The pod's store pool (ha/store_session.h make_store_pool) for the registry reads and the event
  // recorder; null: private pools to database_url. database_url itself is then only for the lock
  // and liveness sessions (--lock-database-url: never through transaction pooling).
  std::shared_ptr<store::ConnectionPool> store_pool;
  std::vector<std::string> business_ids;        // empty: every registered account
  std::optional<store::LockKeyMode> lock_keys;  // nullopt: whatever the cluster stored
  StandbyWait standby_wait = StandbyWait::poll;
  Millis poll_interval{500};
  double poll_jitter = 0.2;
  Millis heartbeat_interval{1000};
  Millis fence_after{3000};
  // The database keeps a silent leader's lock at least fence_after + fence_margin (server
  // tcp_user_timeout and idle_session_timeout). Measured partition margin: this + ~0.1-0.2 s.
  Millis fence_margin{2000};
  Millis relist_interval{3000};
  Millis member_interval{5000};
  Millis backoff_initial{1000};
  Millis backoff_max{30000};
  // After this pod gave an account up because its session was replaced (or failed for good), it
  // waits this long (doubling, capped) before competing for it again.
  Millis give_up_backoff_initial{2000};
  Millis give_up_backoff_max{120000};
  // Balanced leadership (poll mode, ha/balance.h): this pod takes at once the accounts targeted
  // at it while it leads fewer than ceil(accounts / live pods) + share_slack; others it takes
  // only after they had no leader for takeover_grace (2x that when over its share); a pod above
  // ceil(accounts / live pods) hands accounts targeted at another live pod over to it (resign +
  // NOTIFY), one per handover_interval.
  bool balance = true;
  int share_slack = 1;
  Millis takeover_grace{1000};
  Millis handover_interval{250};
  std::string version = "dev";
  // The led accounts' activity stamps (ha/activity_batch.h), written with each member beat; null: none.
  std::shared_ptr<ActivityBatch> activity;
};

// Checks the timing relations the fencing argument needs; returns an error naming the setting.
std::string validate(const ElectorConfig& c);

struct AccountSnapshot {
  std::string business_id;
  std::string jid;  // unmasked; renderers mask it
  Role role = Role::standby;
  std::int64_t epoch = 0;
  std::int64_t since_unix_ms = 0;
  std::optional<std::string> connection;  // nullopt: no connection object
};

// This pod's share of the fleet (balanced leadership), as of the last re-list.
struct ShareSnapshot {
  std::vector<std::string> live_pods;  // pods holding their liveness lock, this one included
  int accounts = 0;                    // accounts competed for (registered, not logged out)
  int fair_share = 0;                  // ceil(accounts / live pods) + slack
  int leading = 0;                     // accounts this pod leads
  int targeted = 0;                    // accounts whose target (preferred pod with room) is this pod
  std::int64_t handovers = 0;          // graceful handovers made by this pod since start
};

struct ElectorSnapshot {
  bool db_reachable = false;
  // False while this pod's writes are refused because the database is read-only (a store write or
  // begin_lease failed with 25006 and none succeeded since).
  bool db_writable = true;
  bool running = false;
  std::string last_error;  // empty when fine
  std::vector<AccountSnapshot> accounts;
  ShareSnapshot share;
};

class Elector {
 public:
  Elector(ElectorConfig cfg, Metrics& metrics, Supervisor& supervisor);
  ~Elector();
  Elector(const Elector&) = delete;
  Elector& operator=(const Elector&) = delete;

  // Runs until stop(); then resigns every account it leads (stop connection, record 'resigned',
  // unlock, NOTIFY) and returns. Throws store::LockKeyModeMismatch (fatal configuration).
  void run();
  // Thread-safe; wakes the loop.
  void stop();

  // Thread-safe views for /status, /ready and tests.
  ElectorSnapshot snapshot() const;
  // Called by the loop on every iteration (liveness watchdog).
  void set_on_loop(std::function<void()> f);
  // The lease of an account this pod leads (null otherwise).
  std::shared_ptr<Lease> lease(const std::string& business_id) const;
  // Moves a led account to a new lock key without a gap (pairing: 'pair:'||business_id -> jid):
  // takes `new_key` on the account's lock session, runs `commit` (e.g. store::set_jid, which
  // stores the new key for every pod), then releases the old key. Standbys polling the new key
  // find it taken from the moment it is stored. Returns false (commit not run) when this pod does
  // not lead the account or the new key is held elsewhere; if `commit` throws, the new key is
  // released again and the exception is rethrown here. Blocks until the elector's thread did it;
  // must not be called from that thread (connection callbacks run there): throws logic_error.
  // `abandon` (optional) is polled while waiting: once it returns true the call returns false
  // without waiting further (the request stays queued; `commit` must then own what it touches).
  bool move_lock(const std::string& business_id, std::int64_t new_key, std::function<void()> commit,
                 std::function<bool()> abandon = {});
  // The account's lease is fresh (armed and before its deadline): checked by store writers.
  bool lease_fresh(const std::string& business_id) const;

  // Backend pid of the session holding `business_id`'s lock (0 if none) - for drills/tests.
  int lock_backend_pid(const std::string& business_id) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace wa::ha
