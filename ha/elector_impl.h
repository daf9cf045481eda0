// The elector's state, shared by the files that make up its thread (private to ha/):
//   elector.cpp          the loop: follower state (compete, win) and leader state (begin the
//                        lease, hold for a live previous holder, start, heartbeat), in that order
//   elector_exit.cpp     leaving the leader state: fence, give up, resign
//   elector_sessions.cpp sessions and plumbing: registry reads, lock sessions, sleeping, /status
#pragma once

#include "ha/elector.h"

#include <algorithm>
#include <map>
#include <random>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "common/log.h"
#include "common/mask.h"
#include "ha/account_lease.h"
#include "ha/db_retry.h"
#include "ha/event_recorder.h"
#include "ha/lock_move.h"
#include "ha/lock_slot.h"
#include "ha/peer_waiters.h"
#include "ha/session_watch.h"
#include "ha/wake_loop.h"
#include "store/migrator.h"

namespace wa::ha {

using Clock = SteadyClock;
using Op = LockSlot::Op;

inline std::int64_t ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

// A lock session that lived this long before it failed was healthy: its reopening starts with the
// fast retries again (a session that fails right after opening keeps backing off).
inline constexpr auto kStableSession = std::chrono::seconds(10);
// A fenced account is competed for again by this pod only after this long.
inline constexpr auto kFencedCompeteDelay = std::chrono::milliseconds(1000);

inline constexpr auto kAliveCheckEvery = std::chrono::milliseconds(20);
// How long past fence_after a new leader holds for a live previous holder: the old lease ran from
// a send time before our win, so fence_after after the win bounds it; the rest covers clock rate.
inline constexpr auto kHoldMargin = std::chrono::milliseconds(1000);
// After a peer died: poll this often for a moment (its lock session may end a little after the
// liveness session the waiter saw end).
inline constexpr auto kBurstPoll = std::chrono::milliseconds(25);
inline constexpr auto kBurstFor = std::chrono::milliseconds(400);
// How often the live pods are read (ha_members rows whose liveness lock is held), besides every
// account re-list.
inline constexpr auto kLiveRefresh = std::chrono::milliseconds(1000);
// A pod does not take back an account it handed over for this long (unless it has no leader).
inline constexpr auto kHandoverCooldown = std::chrono::seconds(30);

struct Elector::Impl {
  // Events from other threads (connections, fence guard, session watch), acted on by the loop.
  struct Posted {
    enum Kind {
      fence_deadline,
      conn_state,
      conn_disconnect,
      session_lost,
      liveness_lost,
      leader_notice,
      any_notice,
      database_back
    } kind;
    Posted(Kind k, std::string id = {}, core::ConnectionState st = core::ConnectionState::stopped)
        : kind(k), business_id(std::move(id)), state(st) {}
    std::string business_id;
    core::ConnectionState state = core::ConnectionState::stopped;
    core::DisconnectReason reason = core::DisconnectReason::unknown;
    std::string details;
    std::int64_t epoch = 0;  // the lease the event belongs to
    int watch_id = 0;
    store::LeaderNotice notice;
  };
  // What the other threads may act on at once: which lock session each led account is on.
  struct Led {
    int watch_id = 0;
    std::int64_t epoch = 0;
  };

  ElectorConfig cfg;
  Metrics& metrics;
  Supervisor& sup;
  SessionSettings lock_settings;
  std::mt19937_64 rng{std::random_device{}()};
  // Session (re)opening: fast first retries, then backoff (ha/db_retry.h).
  DbRetry db_retry, lock_retry;
  bool lock_read_only = false;  // the last begin_lease was refused as read-only (25006)
  Backoff poll_backoff;
  WakeLoop wake;
  std::atomic<bool> stopping{false};
  std::function<void()> on_loop;

  PooledReads store;  // reads only (schema, registry) on the store pool; writes go through `recorder`
  Clock::time_point next_store_attempt{}, next_lock_attempt{}, next_poll{}, next_relist{}, next_member{};
  std::map<std::string, AccountLease> entries;
  std::map<std::string, std::int64_t> stopped_epoch;         // highest lease epoch announced as stopped
  std::unique_ptr<LockSlot> pod_slot;                        // poll mode
  std::map<std::string, std::unique_ptr<LockSlot>> waiters;  // block mode, by business_id
  int next_watch_id = 1;

  std::mutex posted_mu;
  std::vector<Posted> posted;
  std::mutex led_mu;
  std::map<std::string, Led> led;

  mutable std::mutex snap_mu;
  ElectorSnapshot snap;
  std::map<std::string, int> pids;

  // ---- balanced leadership (elector_balance.cpp) ----
  std::vector<std::string> live_pods;   // sorted; this pod included while its liveness lock is held
  std::map<std::string, int> pod_load;  // accounts_led as each pod last beat it
  int share = 0, targeted = 0, competing = 0;
  std::int64_t handovers = 0;
  Clock::time_point next_handover{}, burst_until{}, next_live{};
  std::unique_ptr<PeerWaiters> peers;  // poll mode

  std::shared_ptr<LockMoves> moves;
  EventRecorder recorder;
  std::unique_ptr<SessionWatch> watch;
  std::unique_ptr<FenceGuard> guard;  // last: its thread calls back into this object

  Impl(ElectorConfig c, Metrics& m, Supervisor& s)
      : cfg(std::move(c)),
        metrics(m),
        sup(s),
        lock_settings(safe_session_settings(cfg.fence_after, cfg.fence_margin)),
        db_retry(cfg.backoff_max, rng()),
        lock_retry(cfg.backoff_max, rng()),
        poll_backoff(cfg.backoff_initial, cfg.backoff_max, 0.2, rng()),
        store(pool_or_own(StoreSessionOptions{cfg.database_url, cfg.pod, 5000, 2000, 10000, cfg.store_pool}, "registry")),
        moves(std::make_shared<LockMoves>([this] { wake.wake(); })),
        recorder(StoreSessionOptions{cfg.database_url, cfg.pod, 5000, 2000, 10000, cfg.store_pool}, cfg.version,
                 &metrics.store_writes_refused) {
    lock_settings.url = cfg.database_url;
    // A begin_lease behind an old leader's open write gives up well inside the fence deadline of
    // the accounts sharing the session (their heartbeats wait behind it).
    lock_settings.lock_timeout_ms =
        static_cast<int>(std::max<std::int64_t>(100, cfg.fence_after.count() / 3));
    SessionWatch::Callbacks cb;
    cb.on_lost = [this](int watch_id) { stop_now(watch_id, "lock session closed by the server"); };
    cb.on_liveness_lost = [this] { stop_now(0, "liveness session lost"); };
    cb.on_notice = [this](const store::LeaderNotice& n) {
      Posted p{Posted::leader_notice, n.business_id};
      p.notice = n;
      post(std::move(p));
    };
    cb.on_any_notice = [this] { post({Posted::any_notice, {}}); };
    cb.on_database_back = [this] { post({Posted::database_back, {}}); };
    watch = std::make_unique<SessionWatch>(lock_settings, cfg.pod, cfg.heartbeat_interval, std::move(cb));
    if (cfg.standby_wait == StandbyWait::poll) peers = std::make_unique<PeerWaiters>(lock_settings, cfg.pod);
    guard = std::make_unique<FenceGuard>([this](const std::string& id) {
      // Fence first, bookkeeping later: this thread must act even if the loop is stuck.
      sup.stop(id, core::DisconnectReason::lock_lost);
      announce(id, "fenced");
      wa::log::error("fence_deadline_passed")
          .kv("business_id", id)
          .kv("fence_after_ms", static_cast<std::int64_t>(cfg.fence_after.count()))
          .kv("action", "connection stopped and store writes revoked");
      post({Posted::fence_deadline, id});
    });
  }

  ~Impl() {
    guard.reset();
    peers.reset();
    // Slots unregister from the watch when they close, so they go before it.
    pod_slot.reset();
    waiters.clear();
    watch.reset();
    moves->close();
  }

  void post(Posted p) {
    {
      std::lock_guard lk(posted_mu);
      posted.push_back(std::move(p));
    }
    wake.wake();
  }

  // On the watch thread: stop every account on lock session `watch_id` (0: every account) now,
  // tell waiting new leaders, then let the loop do the bookkeeping.
  void stop_now(int watch_id, const char* why);

  void announce(const std::string& id, const char* kind) {
    std::int64_t epoch = 0;
    {
      std::lock_guard lk(led_mu);
      auto it = led.find(id);
      if (it == led.end()) return;
      epoch = it->second.epoch;
    }
    watch->announce({id, epoch, kind, cfg.pod});
  }

  void set_led(const AccountLease& e, int watch_id) {
    std::lock_guard lk(led_mu);
    led[e.id()] = {watch_id, e.epoch};
  }
  void clear_led(const std::string& id) {
    std::lock_guard lk(led_mu);
    led.erase(id);
  }

  bool transition(AccountLease& e, Role to, std::string_view why) { return e.transition(to, why, metrics); }

  std::vector<LockSlot*> slots() {
    std::vector<LockSlot*> out;
    if (pod_slot) out.push_back(pod_slot.get());
    for (auto& [id, w] : waiters) out.push_back(w.get());
    return out;
  }

  // ---- the loop: follower state and leader state of every account, one tick at a time ------

  void loop();

  bool candidate(const AccountLease& e) const;

  // Follower: one lock attempt per tick for all candidates (poll) or a waiter per account (block).
  // Leader: heartbeats first, then begun leases and liveness checks of held takeovers.
  void schedule(LockSlot& slot, Clock::time_point now);

  void on_outcome(LockSlot& slot, LockSlot::Outcome o);

  // Won the account's key on `slot`: begin the lease next (asynchronously, see schedule()).
  void won(AccountLease& e, LockSlot& slot);

  // begin_lease answered. Its send time is the lease's proof: the server received it then, with
  // the lock held, so it cannot release the lock before that instant plus its timeout.
  void lease_begun(AccountLease& e, LockSlot& slot, const LockSlot::Outcome& o);

  void hold_or_start(AccountLease& e, Clock::time_point now);

  void end_hold(AccountLease& e, std::string_view why);

  void start_connection(AccountLease& e);

  void extend(AccountLease& e, Clock::time_point deadline);

  int slot_watch_id(LockSlot& slot) {
    for (auto& [w, s] : watch_ids)
      if (s == &slot) return w;
    return 0;
  }
  std::map<int, LockSlot*> watch_ids;

  // ---- balanced leadership (elector_balance.cpp) ---------------------------------------------

  bool balancing() const {
    return cfg.balance && cfg.standby_wait == StandbyWait::poll && !live_pods.empty();
  }
  // Accounts led or being begun on this pod.
  int leading_count() const;
  // Reads the live pods (registry session), recomputes targets and the share, syncs peer waiters
  // (`fresh`: also re-queue waiters that finished, PeerWaiters::sync).
  void refresh_live(bool fresh);
  void retarget();
  // Splits this tick's candidate keys into those tried now and those only probed (balance.h).
  void choose_keys(Clock::time_point now, LockSlot& slot, std::vector<std::int64_t>& tries,
                   std::vector<std::int64_t>& probes);
  // What a balanced poll saw: busy keys have a leader, free ones none (since when).
  void observe(const LockSlot::Outcome& o, Clock::time_point now);
  // A peer's waiter was granted: the pod is gone; its accounts get new targets and a tick now.
  void peer_gone(const std::string& pod);
  // Hands one account targeted at another live pod over to it, at most one per interval.
  void rebalance(Clock::time_point now);
  void hand_over(AccountLease& e, const std::string& to);

  // ---- leaving the leader state ----------------------------------------------------------------

  // Stops acting for the account at once (connection, writes), then does the bookkeeping.
  void fence(AccountLease& e, std::string_view cause, bool lock_lost);

  void fence_slot_of(AccountLease& e, std::string_view why);

  // The session is in doubt: fence everything it holds BEFORE closing it (closing releases the
  // locks, and someone else may win them at once).
  void fail_slot(LockSlot& slot, std::string_view why);

  void unlock(LockSlot& slot, const std::vector<std::int64_t>& keys);

  void notify_stopped(LockSlot& slot, const AccountLease& e);

  // The connection ended for good (logged out, replaced, failed): stop acting for the account,
  // say why in the registry, release its lock and - unless nobody should take it - wake the
  // standbys. Runs on the loop thread.
  void give_up(AccountLease& e, core::DisconnectReason reason, const std::string& details);

  // ---- events from other threads ---------------------------------------------------------------

  void handle_posted();

  // ---- database plumbing -----------------------------------------------------------------------

  void ensure_store(Clock::time_point now);

  void set_error(std::string e);

  void relist(Clock::time_point now);

  void ensure_lock_sessions(Clock::time_point now);

  std::unique_ptr<LockSlot> new_slot(const std::string& name);

  bool open_slot(LockSlot& slot, std::string_view kind, Clock::time_point now, int check_interval_ms);

  void on_query_error(LockSlot& slot, Op op, const pg::Error& ex);

  void member_beat(Clock::time_point now);

  void publish();

  // Sleeps until the next timer or I/O, then takes what the lock sessions answered.
  void sleep_and_collect();

  // Waiters whose account is no longer a candidate are released.
  void release_unneeded_waiters();

  // Graceful: stop connections, record 'resigned', unlock, NOTIFY. The caller bounds the time.
  void resign_all();
};

}  // namespace wa::ha
