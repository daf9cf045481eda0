#include "ha/elector.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <future>
#include <random>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "common/log.h"
#include "common/mask.h"
#include "ha/heartbeat.h"
#include "store/ha_events.h"
#include "store/members.h"
#include "store/migrator.h"

namespace wa::ha {
namespace {

using Clock = SteadyClock;

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

// A self-pipe: other threads write a byte to wake the loop out of poll().
class WakePipe {
 public:
  WakePipe() {
    if (pipe2(fds_, O_NONBLOCK | O_CLOEXEC) != 0) throw std::runtime_error("elector: cannot create wake pipe");
  }
  ~WakePipe() {
    close(fds_[0]);
    close(fds_[1]);
  }
  WakePipe(const WakePipe&) = delete;
  WakePipe& operator=(const WakePipe&) = delete;
  int read_fd() const { return fds_[0]; }
  void wake() {
    const char b = 1;
    [[maybe_unused]] auto n = write(fds_[1], &b, 1);
  }
  void drain() {
    char buf[64];
    while (read(fds_[0], buf, sizeof buf) > 0) {
    }
  }

 private:
  int fds_[2]{-1, -1};
};

std::string array_literal(const std::vector<std::int64_t>& keys) {
  std::string s = "{";
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(keys[i]);
  }
  return s + "}";
}

constexpr const char* kTryLockSql = "SELECT k, pg_try_advisory_lock(k) FROM unnest($1::bigint[]) AS k";
constexpr const char* kWaitLockSql = "SELECT pg_advisory_lock($1::bigint)";
constexpr const char* kUnlockSql = "SELECT k, pg_advisory_unlock(k) FROM unnest($1::bigint[]) AS k";
constexpr const char* kNotifySql = "SELECT pg_notify('waconnector_leader', $1)";

}  // namespace

std::string validate(const ElectorConfig& c) {
  if (c.pod.empty()) return "--pod (POD_NAME) must not be empty";
  if (c.heartbeat_interval.count() < 50) return "--heartbeat-interval must be at least 50ms";
  if (c.fence_after < 2 * c.heartbeat_interval)
    return "--fence-after must be at least twice --heartbeat-interval (one lost heartbeat must not fence)";
  if (c.poll_interval.count() < 10) return "--poll-interval must be at least 10ms";
  try {
    (void)safe_session_settings(c.fence_after, c.fence_margin);
  } catch (const std::invalid_argument& e) {
    return fmt::format("--fence-after: {}", e.what());
  }
  return {};
}

struct Elector::Impl {
  enum class Op { none, heartbeat, try_lock, wait_lock };

  // One lock-holding session: the pod's (poll mode) or an account's waiter (block mode).
  struct Slot {
    std::string name;
    LockSession ls;
    Op op = Op::none;
    std::vector<std::int64_t> op_keys;
    std::set<std::int64_t> held;
    Clock::time_point next_heartbeat{};
  };

  struct Entry {
    store::Account acc;
    Role role = Role::standby;
    std::int64_t epoch = 0;
    std::int64_t since_ms = 0;
    Slot* slot = nullptr;  // the session holding this account's lock while leading
    Clock::time_point won_at{};
    bool listed = true;
    bool login_observed = false;       // failover_seconds observed for this lease
    Clock::time_point logged_in_at{};  // last logged_in of this lease
    Clock::time_point compete_after{};  // gave the account up: not before this
    std::optional<Backoff> give_up_backoff;
  };

  struct Posted {
    enum Kind { fence_deadline, conn_state, conn_disconnect } kind;
    Posted(Kind k, std::string id, core::ConnectionState st = core::ConnectionState::stopped)
        : kind(k), business_id(std::move(id)), state(st) {}
    std::string business_id;
    core::ConnectionState state = core::ConnectionState::stopped;
    core::DisconnectReason reason = core::DisconnectReason::unknown;
    std::string details;
    std::int64_t epoch = 0;  // the lease the event belongs to
  };

  // A transition that could not be recorded (database down); written once the store is back.
  struct PendingEvent {
    std::string business_id;
    store::EventKind kind;
    std::int64_t epoch;
    std::optional<std::int64_t> duration_ms;
    std::string details;
    std::int64_t at_unix_ms;
  };
  static constexpr std::size_t kMaxPendingEvents = 256;
  std::deque<PendingEvent> pending_events;
  std::int64_t pending_dropped = 0;

  ElectorConfig cfg;
  Metrics& metrics;
  Supervisor& sup;
  SessionSettings lock_settings;
  std::mt19937_64 rng{std::random_device{}()};
  Backoff db_backoff;
  Backoff lock_backoff;
  Backoff poll_backoff;
  WakePipe wake;
  std::atomic<bool> stopping{false};
  std::function<void()> on_loop;

  pg::Connection store;
  Clock::time_point next_store_attempt{};
  std::unique_ptr<Slot> pod_slot;                    // poll mode
  std::map<std::string, std::unique_ptr<Slot>> waiters;  // block mode, by business_id
  Clock::time_point next_lock_attempt{};
  Clock::time_point next_poll{};
  Clock::time_point next_relist{};
  Clock::time_point next_member{};
  bool member_registered = false;
  std::map<std::string, Entry> entries;

  struct MoveRequest {
    std::string business_id;
    std::int64_t new_key = 0;
    std::function<void()> commit;
    std::promise<bool> done;
  };

  std::mutex posted_mu;
  std::vector<Posted> posted;
  std::vector<std::shared_ptr<MoveRequest>> moves;
  std::atomic<std::thread::id> loop_thread{};

  mutable std::mutex snap_mu;
  ElectorSnapshot snap;
  std::map<std::string, int> pids;

  std::unique_ptr<FenceGuard> guard;  // last: its thread calls back into this object

  Impl(ElectorConfig c, Metrics& m, Supervisor& s)
      : cfg(std::move(c)),
        metrics(m),
        sup(s),
        lock_settings(safe_session_settings(cfg.fence_after, cfg.fence_margin)),
        db_backoff(cfg.backoff_initial, cfg.backoff_max, 0.2, rng()),
        lock_backoff(cfg.backoff_initial, cfg.backoff_max, 0.2, rng()),
        poll_backoff(cfg.backoff_initial, cfg.backoff_max, 0.2, rng()) {
    lock_settings.url = cfg.database_url;
    guard = std::make_unique<FenceGuard>([this](const std::string& id) {
      // Fence first, bookkeeping later: this thread must act even if the loop is stuck.
      sup.stop(id, core::DisconnectReason::lock_lost);
      wa::log::error("fence_deadline_passed")
          .kv("business_id", id)
          .kv("fence_after_ms", static_cast<std::int64_t>(cfg.fence_after.count()))
          .kv("action", "connection stopped and store writes revoked");
      post({Posted::fence_deadline, id});
    });
  }

  ~Impl() { guard.reset(); }

  void post(Posted p) {
    {
      std::lock_guard lk(posted_mu);
      posted.push_back(std::move(p));
    }
    wake.wake();
  }

  bool ready_db() const {
    if (!store.ok()) return false;
    if (cfg.standby_wait == StandbyWait::poll) return pod_slot && pod_slot->ls.ok();
    return true;
  }

  // ---- state transitions -------------------------------------------------------------------

  void set_role(Entry& e, Role to, std::string_view why) {
    if (e.role == to) return;
    if (!transition_allowed(e.role, to))
      wa::log::warn("unexpected_transition").kv("business_id", e.acc.business_id).kv("from", to_string(e.role)).kv("to", to_string(to));
    const Role from = e.role;
    e.role = to;
    e.since_ms = unix_ms_now();
    const bool was = leads(from), is = leads(to);
    if (was != is) {
      metrics.leader(e.acc.business_id).Set(is ? 1 : 0);
      metrics.leader_transitions.Increment();
    }
    auto line = (to == Role::fenced) ? wa::log::error("role_changed") : wa::log::info("role_changed");
    line.kv("business_id", e.acc.business_id).kv("from", to_string(from)).kv("to", to_string(to)).kv("epoch", e.epoch).kv("reason", why);
    if (e.acc.jid) line.kv("jid", mask_jid(*e.acc.jid));
  }

  void record(const Entry& e, store::EventKind kind, std::optional<std::int64_t> duration_ms, std::string_view details) {
    // Best effort now, guaranteed later: the database may be what failed (a server restart loses
    // exactly the fenced/takeover rows that explain it). A store session that died under us is
    // reopened once; if that fails too the event waits in a bounded queue and is written, with
    // its original time in the details, once the database is back (flush_pending_events).
    if (!pending_events.empty()) flush_pending_events();
    if (pending_events.empty() && try_record(e.acc.business_id, kind, e.epoch, duration_ms, details)) return;
    if (pending_events.size() >= kMaxPendingEvents) {
      pending_events.pop_front();
      ++pending_dropped;
    }
    pending_events.push_back({e.acc.business_id, kind, e.epoch, duration_ms, std::string(details), unix_ms_now()});
    wa::log::warn("ha_event_queued").kv("business_id", e.acc.business_id).kv("kind", store::to_string(kind)).kv("queued", static_cast<std::int64_t>(pending_events.size()));
  }

  bool try_record(const std::string& id, store::EventKind kind, std::int64_t epoch, std::optional<std::int64_t> duration_ms,
                  std::string_view details) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      try {
        if (!store.ok()) store = open_store_session();
        store::record_event(store, id, cfg.pod, kind, epoch, duration_ms, details);
        return true;
      } catch (const pg::Error& ex) {
        const bool retry = attempt == 0 && (ex.connection_lost() || !store.ok());
        if (!store.ok()) store.close();
        if (retry) continue;
        wa::log::warn("ha_event_not_recorded").kv("business_id", id).kv("kind", store::to_string(kind)).kv("error", ex.what());
        return false;
      } catch (const std::exception& ex) {
        store.close();
        wa::log::warn("ha_event_not_recorded").kv("business_id", id).kv("kind", store::to_string(kind)).kv("error", ex.what());
        return false;
      }
    }
    return false;
  }

  void flush_pending_events() {
    if (!store.ok()) return;
    if (pending_dropped > 0) {
      wa::log::error("ha_events_lost").kv("count", pending_dropped).kv("note", "the in-memory queue was full while the database was down");
      pending_dropped = 0;
    }
    while (!pending_events.empty()) {
      const auto& p = pending_events.front();
      const auto details = fmt::format("{}{}(recorded late: happened at unix_ms={})", p.details, p.details.empty() ? "" : " ", p.at_unix_ms);
      try {
        store::record_event(store, p.business_id, cfg.pod, p.kind, p.epoch, p.duration_ms, details);
      } catch (const std::exception& ex) {
        if (!store.ok()) store.close();
        return;
      }
      wa::log::info("ha_event_recorded_late").kv("business_id", p.business_id).kv("kind", store::to_string(p.kind));
      pending_events.pop_front();
    }
  }

  pg::Connection open_store_session() {
    auto c = pg::Connection::open(cfg.database_url, "store session",
                                {{"application_name", fmt::format("waconnector/{}/store", cfg.pod)},
                                 {"connect_timeout", "3"},
                                 {"keepalives", "1"},
                                 {"keepalives_idle", "1"},
                                 {"keepalives_interval", "1"},
                                 {"keepalives_count", "3"},
                                 {"tcp_user_timeout", "3000"},
                                 {"options", "-c statement_timeout=5000"}});
    log_notices(c.raw());
    return c;
  }

  void on_won(Entry& e, Slot& slot) {
    const auto k = e.acc.lock_key;
    store::Lease lease;
    // begin_lease runs on the lock session: once it returns, the server received it after this
    // instant, so it cannot release the session's locks before proof + its timeout. That is the
    // lease start (for a block-mode waiter, its pg_advisory_lock was sent long ago).
    const auto proof = Clock::now();
    try {
      // The key may have moved (pairing: the leader took the jid key, stored it, then released
      // the old one). Whoever gets the old key after that must not lead with it; any such
      // acquisition happens after the new key was stored, so reading it now is enough.
      auto current = store::get_account(slot.ls.conn(), e.acc.business_id);
      if (!current) throw store::NotFound("account " + e.acc.business_id + " is no longer registered");
      if (current->status == "logged_out") {
        // Logged out after our last re-list: nobody may lead it until it is paired again.
        wa::log::info("account_logged_out_skipped").kv("business_id", e.acc.business_id).kv("note", "won the lock of a logged-out account; released it");
        unlock_sync(slot, {k});
        e.acc = *current;
        if (&slot != pod_slot.get()) slot.ls.close();
        return;
      }
      if (current->lock_key != k) {
        wa::log::info("lock_key_changed").kv("business_id", e.acc.business_id).kv("note", "won a stale key; released it");
        unlock_sync(slot, {k});
        e.acc = *current;
        // A block-mode waiter must wait again, on the new key; a poller tries the new key at once
        // (it may have been woken by a NOTIFY that will not come again).
        if (&slot != pod_slot.get()) slot.ls.close();
        else next_poll = Clock::now();
        return;
      }
      lease = store::begin_lease(slot.ls.conn(), e.acc.business_id, cfg.pod);
    } catch (const store::NotFound&) {
      wa::log::warn("account_vanished").kv("business_id", e.acc.business_id);
      unlock_sync(slot, {k});
      e.listed = false;
      return;
    } catch (const pg::Error& ex) {
      // The lock came with the session; if the session is in doubt, so is the lock.
      wa::log::error("begin_lease_failed").kv("business_id", e.acc.business_id).kv("error", ex.what());
      slot.held.insert(k);
      e.slot = &slot;
      fail_slot(slot, ex.what());
      return;
    }
    slot.held.insert(k);
    e.slot = &slot;
    e.epoch = lease.epoch;
    e.won_at = Clock::now();
    e.login_observed = false;
    metrics.lock_attempt("acquired").Increment();
    guard->arm(e.acc.business_id, proof + cfg.fence_after);
    {
      auto line = wa::log::info("lock_acquired");
      line.kv("business_id", e.acc.business_id).kv("epoch", lease.epoch).kv("failover", lease.failover).kv("backend_pid", slot.ls.backend_pid());
      if (lease.previous_pod) line.kv("previous_pod", *lease.previous_pod);
    }
    set_role(e, Role::leader, "won the advisory lock");
    record(e, lease.failover ? store::EventKind::takeover : store::EventKind::acquired, std::nullopt,
           lease.previous_pod ? fmt::format("previous_pod={}", *lease.previous_pod) : std::string("first lease"));
    const std::string id = e.acc.business_id;
    core::ConnectionEvents ev;
    const auto epoch = lease.epoch;
    // These run on the connection's thread: count at once, act on the elector's thread.
    ev.on_state = [this, id, epoch](core::ConnectionState st) {
      metrics.connected(id).Set(st == core::ConnectionState::logged_in ? 1 : 0);
      Posted p{Posted::conn_state, id, st};
      p.epoch = epoch;
      post(std::move(p));
    };
    ev.on_disconnect = [this, id, epoch](core::DisconnectReason r, const std::string& details) {
      metrics.connected(id).Set(0);
      metrics.disconnect(core::to_string(r)).Increment();
      if (r == core::DisconnectReason::replaced) metrics.stream_replaced.Increment();
      wa::log::warn("connection_disconnected").kv("business_id", id).kv("reason", core::to_string(r)).kv("details", details);
      Posted p{Posted::conn_disconnect, id};
      p.reason = r;
      p.details = details;
      p.epoch = epoch;
      post(std::move(p));
    };
    sup.start(id, e.acc.jid.value_or(""), lease.epoch, &metrics.store_writes_refused, std::move(ev));
    if (!sup.has_transport()) {
      wa::log::warn("no_whatsapp_transport").kv("business_id", id).kv("message", "no WhatsApp transport built yet: leading the account without a connection");
      set_role(e, Role::active, "no WhatsApp transport built yet");
    }
  }

  // Stops acting for the account at once (connection, writes), then does the bookkeeping.
  void fence(Entry& e, std::string_view cause, bool lock_lost) {
    if (!leads(e.role)) return;
    sup.stop(e.acc.business_id, core::DisconnectReason::lock_lost);
    guard->disarm(e.acc.business_id);
    metrics.connected(e.acc.business_id).Set(0);
    metrics.fenced.Increment();
    if (lock_lost) metrics.lock_lost.Increment();
    set_role(e, Role::fenced, cause);
    record(e, store::EventKind::fenced, ms_between(e.won_at, Clock::now()), cause);
    sup.release(e.acc.business_id, core::DisconnectReason::lock_lost);
    if (e.slot) e.slot->held.erase(e.acc.lock_key);
    e.slot = nullptr;
  }

  // The session is in doubt: fence everything it holds BEFORE closing it (closing releases the
  // locks, and someone else may win them at once).
  void fail_slot(Slot& slot, std::string_view why) {
    for (auto& [id, e] : entries)
      if (e.slot == &slot) fence(e, fmt::format("lock session lost: {}", why), true);
    slot.held.clear();
    const bool was_valid = slot.ls.valid();
    slot.ls.close();
    slot.op = Op::none;
    // Back off before competing again: healthy standbys get the first chance, and a flapping
    // database is not hammered.
    next_lock_attempt = Clock::now() + lock_backoff.next();
    if (was_valid) wa::log::warn("lock_session_closed").kv("session", slot.name).kv("reason", why);
  }

  void unlock_sync(Slot& slot, const std::vector<std::int64_t>& keys) {
    try {
      slot.ls.conn().exec("release advisory locks", kUnlockSql, {array_literal(keys)});
      for (auto k : keys) slot.held.erase(k);
    } catch (const pg::Error& ex) {
      fail_slot(slot, ex.what());
    }
  }

  // ---- database plumbing ---------------------------------------------------------------------

  void ensure_store(Clock::time_point now) {
    if (store.ok() || now < next_store_attempt) return;
    try {
      store = open_store_session();
      store::require_schema(store);
      if (cfg.lock_keys) store::require_lock_key_mode(store, *cfg.lock_keys);
      store::register_member(store, cfg.pod, cfg.version, 0);
      member_registered = true;
      db_backoff.reset();
      next_relist = now;
      set_error({});
      wa::log::info("database_connected");
    } catch (const store::LockKeyModeMismatch&) {
      throw;
    } catch (const std::exception& ex) {
      store.close();
      const auto delay = db_backoff.next();
      next_store_attempt = now + delay;
      set_error(ex.what());
      wa::log::error("database_unavailable").kv("error", ex.what()).kv("retry_in_ms", static_cast<std::int64_t>(delay.count()));
    }
  }

  void set_error(std::string e) {
    std::lock_guard lk(snap_mu);
    snap.last_error = std::move(e);
  }

  void relist(Clock::time_point now) {
    if (!store.ok() || now < next_relist) return;
    next_relist = now + cfg.relist_interval;
    std::vector<store::Account> list;
    try {
      list = store::list_accounts(store, cfg.business_ids);
    } catch (const std::exception& ex) {
      wa::log::warn("list_accounts_failed").kv("error", ex.what());
      if (!store.ok()) store.close();
      return;
    }
    for (auto& [id, e] : entries) e.listed = false;
    for (auto& a : list) {
      auto it = entries.find(a.business_id);
      if (it == entries.end()) {
        Entry e;
        e.since_ms = unix_ms_now();
        e.acc = a;
        metrics.leader(a.business_id).Set(0);
        wa::log::info("account_discovered").kv("business_id", a.business_id).kv("status", a.status);
        entries.emplace(a.business_id, std::move(e));
      } else {
        auto& e = it->second;
        e.listed = true;
        // A leader keeps the key it holds; a jid change moves the key via move_lock().
        if (!leads(e.role)) {
          if (e.acc.lock_key != a.lock_key) {
            // A block-mode waiter still queued on the old key must wait on the new one.
            if (auto w = waiters.find(a.business_id); w != waiters.end() && w->second->ls.valid() && w->second->held.empty()) {
              w->second->ls.cancel();
              w->second->ls.close();
            }
          }
          e.acc = a;
        } else {
          e.acc.status = a.status;
          e.acc.jid = a.jid;  // set by pairing (the key itself moved with move_lock)
        }
      }
    }
    for (const auto& id : cfg.business_ids)
      if (!entries.count(id)) wa::log::warn("account_not_registered").kv("business_id", id);
  }

  bool candidate(const Entry& e) const {
    return e.listed && (e.role == Role::standby || e.role == Role::fenced) && e.acc.status != "logged_out" &&
           Clock::now() >= e.compete_after;
  }

  // The connection ended for good (logged out, replaced, failed): stop acting for the account,
  // say why in the registry, release its lock and - unless nobody should take it - wake the
  // standbys. Runs on the loop thread.
  void give_up(Entry& e, core::DisconnectReason reason, const std::string& details) {
    if (!leads(e.role)) return;
    const std::string id = e.acc.business_id;
    const bool lock_fresh = guard->fresh(id) && e.slot != nullptr && e.slot->ls.valid();
    // Credentials and status were written by the connection's store; 'failed' is ours to say.
    const bool failed = reason == core::DisconnectReason::error || reason == core::DisconnectReason::unknown;
    if (failed && lock_fresh) {
      try {
        if (!store.ok()) store = open_store_session();
        store::set_disconnected(store, id, e.epoch, core::to_string(reason), details.substr(0, 1000), "failed",
                                &metrics.store_writes_refused);
        store::set_health_score(store, id, e.epoch, 0, &metrics.store_writes_refused);
      } catch (const std::exception& ex) {
        wa::log::warn("account_status_not_written").kv("business_id", id).kv("status", "failed").kv("error", ex.what());
        if (!store.ok()) store.close();
      }
    }
    sup.release(id, reason);
    guard->disarm(id);
    metrics.connected(id).Set(0);
    set_role(e, Role::resigning, fmt::format("connection gave up: {}", core::to_string(reason)));
    record(e, store::EventKind::resigned, ms_between(e.won_at, Clock::now()),
           fmt::format("connection gave up: {}", core::to_string(reason)));
    const bool nobody = reason == core::DisconnectReason::logged_out;
    if (nobody) {
      e.acc.status = "logged_out";
      wa::log::error("account_logged_out")
          .kv("business_id", id)
          .kv("details", details)
          .kv("action", "credentials marked unusable; no pod competes for the account until it is paired again");
    } else {
      if (!e.give_up_backoff) e.give_up_backoff.emplace(cfg.give_up_backoff_initial, cfg.give_up_backoff_max, 0.2, rng());
      // A session that stayed up for a long time starts the backoff over.
      if (e.logged_in_at != Clock::time_point{} && Clock::now() - e.logged_in_at > cfg.give_up_backoff_max)
        e.give_up_backoff->reset();
      const auto delay = e.give_up_backoff->next();
      e.compete_after = Clock::now() + delay;
      if (reason == core::DisconnectReason::replaced) {
        auto line = wa::log::error("stream_replaced");
        line.kv("business_id", id).kv("epoch", e.epoch).kv("compete_again_in_ms", static_cast<std::int64_t>(delay.count()));
        if (lock_fresh)
          line.kv("message",
                  "WhatsApp replaced this session while this pod still holds the account's lock: someone OUTSIDE "
                  "this cluster is using the account's credentials");
        else
          line.kv("message", "WhatsApp replaced this session; this pod's lease was already in doubt");
      } else {
        wa::log::error("account_given_up")
            .kv("business_id", id)
            .kv("reason", core::to_string(reason))
            .kv("details", details)
            .kv("compete_again_in_ms", static_cast<std::int64_t>(delay.count()));
      }
    }
    if (e.slot && e.slot->ls.valid()) {
      Slot* slot = e.slot;
      unlock_sync(*slot, {e.acc.lock_key});
      if (!nobody && slot->ls.valid()) {
        try {
          slot->ls.conn().exec("notify standbys", kNotifySql, {id});
        } catch (const pg::Error& ex) {
          fail_slot(*slot, ex.what());
        }
      }
    }
    e.slot = nullptr;
    set_role(e, Role::standby, "gave the account up");
  }

  void ensure_lock_sessions(Clock::time_point now) {
    if (!store.ok()) return;
    if (cfg.standby_wait == StandbyWait::poll) {
      if (pod_slot && pod_slot->ls.valid()) return;
      if (now < next_lock_attempt) return;
      if (!pod_slot) pod_slot = std::make_unique<Slot>();
      pod_slot->name = "pod";
      if (!open_slot(*pod_slot, "lock", now, 0)) return;
      try {
        pod_slot->ls.conn().exec_simple("listen for resigning leaders", "LISTEN waconnector_leader");
      } catch (const pg::Error& ex) {
        fail_slot(*pod_slot, ex.what());
        return;
      }
      next_poll = now;
      for (auto& [id, e] : entries)
        if (e.role == Role::fenced) set_role(e, Role::standby, "lock session re-established");
      return;
    }
    for (auto& [id, e] : entries) {
      if (!candidate(e)) continue;
      auto& w = waiters[id];
      if (!w) w = std::make_unique<Slot>();
      if (w->ls.valid()) continue;
      if (now < next_lock_attempt) return;
      w->name = id;
      if (!open_slot(*w, "wait", now, 1000)) return;
      try {
        w->ls.send(fmt::format("wait for the lock of {}", id), kWaitLockSql, {e.acc.lock_key});
        w->op = Op::wait_lock;
        w->op_keys = {e.acc.lock_key};
      } catch (const pg::Error& ex) {
        fail_slot(*w, ex.what());
        return;
      }
      if (e.role == Role::fenced) set_role(e, Role::standby, "lock session re-established");
    }
  }

  bool open_slot(Slot& slot, std::string_view kind, Clock::time_point now, int check_interval_ms) {
    auto s = lock_settings;
    s.application_name = fmt::format("waconnector/{}/{}", cfg.pod, kind);
    s.purpose = fmt::format("{} session of pod {}", kind, cfg.pod);
    s.client_connection_check_interval_ms = check_interval_ms;
    try {
      slot.ls = LockSession::open(s);
      slot.op = Op::none;
      slot.held.clear();
      lock_backoff.reset();
      wa::log::info("lock_session_open")
          .kv("session", slot.name)
          .kv("backend_pid", slot.ls.backend_pid())
          .kv("server_tcp_user_timeout_ms", s.server_tcp_user_timeout_ms)
          .kv("unix_socket", slot.ls.unix_socket());
      if (slot.ls.unix_socket())
        wa::log::debug("lock_session_unix_socket").kv("note", "TCP keepalive settings do not apply on a unix socket");
      return true;
    } catch (const std::exception& ex) {
      const auto delay = lock_backoff.next();
      next_lock_attempt = now + delay;
      wa::log::error("lock_session_unavailable").kv("error", ex.what()).kv("retry_in_ms", static_cast<std::int64_t>(delay.count()));
      return false;
    }
  }

  // ---- per-tick work -------------------------------------------------------------------------

  void schedule(Slot& slot, Clock::time_point now) {
    if (!slot.ls.valid() || slot.ls.busy()) return;
    try {
      if (!slot.held.empty() && now >= slot.next_heartbeat) {
        slot.ls.send("lock heartbeat", kHeartbeatSql);
        slot.op = Op::heartbeat;
        return;
      }
      if (&slot == pod_slot.get() && now >= next_poll) {
        std::vector<std::int64_t> keys;
        for (auto& [id, e] : entries)
          if (candidate(e) && !slot.held.count(e.acc.lock_key)) keys.push_back(e.acc.lock_key);
        std::sort(keys.begin(), keys.end());
        keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
        if (keys.empty()) {
          next_poll = now + jittered(cfg.poll_interval, cfg.poll_jitter, rng);
        } else {
          slot.ls.send("try the advisory locks of standby accounts", kTryLockSql, {array_literal(keys)});
          slot.op = Op::try_lock;
          slot.op_keys = std::move(keys);
          slot.next_heartbeat = now + cfg.heartbeat_interval;
          return;
        }
      }
      // A session that holds nothing and has not polled for a heartbeat interval (long
      // --poll-interval, nothing to compete for) still talks, or idle_session_timeout closes it.
      if (&slot == pod_slot.get() && slot.held.empty() && now >= slot.next_heartbeat) {
        slot.ls.send("lock session keepalive", kHeartbeatSql);
        slot.op = Op::heartbeat;
        slot.next_heartbeat = now + cfg.heartbeat_interval;
      }
    } catch (const pg::Error& ex) {
      fail_slot(slot, ex.what());
    }
  }

  void on_result(Slot& slot, pg::Result r) {
    const Op op = slot.op;
    slot.op = Op::none;
    const auto sent = slot.ls.sent_at();
    const auto now = Clock::now();
    switch (op) {
      case Op::heartbeat: {
        metrics.lock_heartbeat_seconds.Observe(std::chrono::duration<double>(now - sent).count());
        const auto have = held_keys(r);
        const auto missing = missing_keys(slot.held, have);
        for (auto& [id, e] : entries) {
          if (e.slot != &slot) continue;
          if (std::find(missing.begin(), missing.end(), e.acc.lock_key) != missing.end()) continue;
          guard->arm(id, sent + cfg.fence_after);
        }
        if (!missing.empty()) {
          wa::log::error("lock_missing")
              .kv("session", slot.name)
              .kv("backend_pid", slot.ls.backend_pid())
              .kv("message",
                  "an advisory lock this pod holds is not in pg_locks for its session: the lock session does not "
                  "keep one server session (transaction-pooling PgBouncer?) or the server restarted; connect "
                  "directly or through PgBouncer in session mode");
          fail_slot(slot, "held advisory lock missing from pg_locks");
          return;
        }
        slot.next_heartbeat = sent + cfg.heartbeat_interval;
        break;
      }
      case Op::try_lock: {
        poll_backoff.reset();
        next_poll = now + jittered(cfg.poll_interval, cfg.poll_jitter, rng);
        std::vector<std::int64_t> orphans;
        for (int i = 0; i < r.rows(); ++i) {
          const auto k = r.i64(i, 0);
          if (!r.boolean(i, 1)) {
            metrics.lock_attempt("busy").Increment();
            continue;
          }
          Entry* winner = nullptr;
          for (auto& [id, e] : entries)
            if (candidate(e) && e.acc.lock_key == k) winner = &e;
          if (winner == nullptr) {
            orphans.push_back(k);
            continue;
          }
          if (winner->role == Role::fenced) set_role(*winner, Role::standby, "lock session re-established");
          on_won(*winner, slot);
          if (!slot.ls.valid()) return;
        }
        if (!orphans.empty()) unlock_sync(slot, orphans);
        if (slot.held.size() > 0 && slot.next_heartbeat < sent) slot.next_heartbeat = sent + cfg.heartbeat_interval;
        break;
      }
      case Op::wait_lock: {
        auto it = entries.find(slot.name);
        if (it == entries.end() || !candidate(it->second)) {
          fail_slot(slot, "won a lock for an account no longer competed for");
          return;
        }
        on_won(it->second, slot);
        // The waiter has been blocked for a long time; its first heartbeat proves liveness now.
        slot.next_heartbeat = now;
        break;
      }
      case Op::none:
        break;
    }
  }

  void on_query_error(Slot& slot, const pg::Error& ex) {
    const Op op = slot.op;
    slot.op = Op::none;
    if (ex.connection_lost() || op == Op::heartbeat || op == Op::wait_lock) {
      if (op == Op::try_lock || op == Op::wait_lock) metrics.lock_attempt("error").Increment();
      fail_slot(slot, ex.what());
      return;
    }
    // A statement error on a live session (e.g. a bad key list): back off the polls.
    metrics.lock_attempt("error").Increment();
    const auto delay = poll_backoff.next();
    next_poll = Clock::now() + delay;
    wa::log::error("lock_poll_failed").kv("error", ex.what()).kv("retry_in_ms", static_cast<std::int64_t>(delay.count()));
  }

  // One lock move on the loop thread; false = not now (the slot is busy), retried next tick.
  bool try_move(MoveRequest& m) {
    auto it = entries.find(m.business_id);
    if (it == entries.end() || !leads(it->second.role) || it->second.slot == nullptr || !it->second.slot->ls.valid()) {
      m.done.set_value(false);
      return true;
    }
    Entry& e = it->second;
    Slot& s = *e.slot;
    if (s.ls.busy()) return false;
    const auto old_key = e.acc.lock_key;
    if (old_key == m.new_key) {
      try {
        m.commit();
        m.done.set_value(true);
      } catch (...) {
        m.done.set_exception(std::current_exception());
      }
      return true;
    }
    try {
      auto r = s.ls.conn().exec("take the account's new lock key", "SELECT pg_try_advisory_lock($1::bigint)", {m.new_key});
      if (!r.boolean(0, 0)) {
        wa::log::error("lock_move_refused").kv("business_id", e.acc.business_id).kv("reason", "the new lock key is held by another session");
        m.done.set_value(false);
        return true;
      }
      s.held.insert(m.new_key);
      try {
        m.commit();
      } catch (...) {
        s.ls.conn().exec("release the new lock key after a failed commit", kUnlockSql, {array_literal({m.new_key})});
        s.held.erase(m.new_key);
        m.done.set_exception(std::current_exception());
        return true;
      }
      s.ls.conn().exec("release the account's old lock key", kUnlockSql, {array_literal({old_key})});
      s.held.erase(old_key);
      e.acc.lock_key = m.new_key;
      wa::log::info("lock_key_moved").kv("business_id", e.acc.business_id).kv("epoch", e.epoch);
      m.done.set_value(true);
    } catch (const pg::Error& ex) {
      fail_slot(s, ex.what());
      m.done.set_value(false);
    }
    return true;
  }

  void handle_posted() {
    std::vector<Posted> items;
    std::vector<std::shared_ptr<MoveRequest>> mv;
    {
      std::lock_guard lk(posted_mu);
      items.swap(posted);
      mv.swap(moves);
    }
    for (auto& m : mv) {
      if (stopping.load()) {
        m->done.set_value(false);
      } else if (!try_move(*m)) {
        std::lock_guard lk(posted_mu);
        moves.push_back(m);
      } else {
        // The move stored a new jid: re-read the registry now, so /status shows it at once
        // instead of after the next scheduled re-list.
        next_relist = Clock::now();
      }
    }
    for (auto& p : items) {
      auto it = entries.find(p.business_id);
      if (it == entries.end()) continue;
      auto& e = it->second;
      if (p.kind == Posted::fence_deadline) {
        if (!leads(e.role)) continue;
        Slot* slot = e.slot;
        fence(e,
              fmt::format("heartbeat deadline: no successful lock heartbeat for {} ms", cfg.fence_after.count()),
              false);
        // The session's heartbeats are overdue; whatever else it holds is just as doubtful.
        if (slot) fail_slot(*slot, "heartbeat deadline passed");
      } else if (p.kind == Posted::conn_state) {
        if (!leads(e.role) || p.epoch != e.epoch) continue;  // a previous lease's connection
        if (e.role == Role::leader && p.state == core::ConnectionState::logged_in)
          set_role(e, Role::active, "WhatsApp connection logged in");
        if (p.state == core::ConnectionState::logged_in) {
          e.logged_in_at = Clock::now();
          if (!e.login_observed && e.won_at != Clock::time_point{}) {
            e.login_observed = true;
            const auto secs = std::chrono::duration<double>(Clock::now() - e.won_at).count();
            metrics.failover_seconds.Observe(secs);
            wa::log::info("lease_logged_in").kv("business_id", id_of(e)).kv("epoch", e.epoch).kv("lock_to_login_ms", static_cast<std::int64_t>(secs * 1000));
          }
        }
      } else if (p.kind == Posted::conn_disconnect) {
        if (!leads(e.role) || p.epoch != e.epoch) continue;
        // Only a final end is acted on; transient ends are followed by the client's reconnect.
        const auto st = sup.connection_state(e.acc.business_id);
        if (st && *st == core::ConnectionState::failed) give_up(e, p.reason, p.details);
      }
    }
  }

  static const std::string& id_of(const Entry& e) { return e.acc.business_id; }

  void member_beat(Clock::time_point now) {
    if (!store.ok() || now < next_member) return;
    next_member = now + cfg.member_interval;
    int leading = 0;
    for (auto& [id, e] : entries) leading += leads(e.role) ? 1 : 0;
    try {
      store::heartbeat_member(store, cfg.pod, cfg.version, leading,
                              pod_slot && pod_slot->ls.valid() ? pod_slot->ls.backend_pid() : 0);
    } catch (const std::exception& ex) {
      wa::log::warn("member_heartbeat_failed").kv("error", ex.what());
      if (!store.ok()) store.close();
    }
  }

  std::vector<Slot*> slots() {
    std::vector<Slot*> out;
    if (pod_slot) out.push_back(pod_slot.get());
    for (auto& [id, w] : waiters) out.push_back(w.get());
    return out;
  }

  void publish() {
    ElectorSnapshot s;
    s.db_reachable = ready_db();
    s.running = !stopping.load();
    std::map<std::string, int> p;
    for (auto& [id, e] : entries) {
      AccountSnapshot a;
      a.business_id = id;
      a.jid = e.acc.jid.value_or("");
      a.role = e.role;
      a.epoch = e.epoch;
      a.since_unix_ms = e.since_ms;
      if (auto st = sup.connection_state(id)) a.connection = core::to_string(*st);
      s.accounts.push_back(std::move(a));
      if (e.slot && e.slot->ls.valid()) p[id] = e.slot->ls.backend_pid();
    }
    std::lock_guard lk(snap_mu);
    s.last_error = snap.last_error;
    snap = std::move(s);
    pids = std::move(p);
  }

  void loop() {
    loop_thread = std::this_thread::get_id();
    while (!stopping.load()) {
      if (on_loop) on_loop();
      // First thing after any stall (SIGSTOP, a frozen VM): a lease whose deadline passed is fenced
      // here before this thread acts on anything else, whichever thread the scheduler runs first.
      for (auto& [id, e] : entries)
        if (leads(e.role) && !guard->fresh(id)) {
          Slot* slot = e.slot;
          fence(e, "lease deadline passed (the process was stalled)", false);
          if (slot) fail_slot(*slot, "heartbeat deadline passed");
        }
      handle_posted();
      auto now = Clock::now();
      ensure_store(now);
      if (!pending_events.empty()) flush_pending_events();
      relist(now);
      ensure_lock_sessions(now);
      for (auto* s : slots()) schedule(*s, now);
      member_beat(now);
      publish();

      // Sleep until the next timer or I/O.
      now = Clock::now();
      auto until = now + std::chrono::milliseconds(1000);
      auto consider = [&](Clock::time_point t) {
        if (t > Clock::time_point{}) until = std::min(until, t);
      };
      if (!store.ok()) consider(next_store_attempt);
      consider(next_relist);
      consider(next_member);
      if (cfg.standby_wait == StandbyWait::poll) consider(pod_slot && pod_slot->ls.valid() ? next_poll : next_lock_attempt);
      else consider(next_lock_attempt);
      for (auto& [id, e] : entries)
        if (e.compete_after > now) consider(e.compete_after);
      std::vector<pollfd> fds{{wake.read_fd(), POLLIN, 0}};
      std::vector<Slot*> polled;
      for (auto* s : slots()) {
        if (!s->ls.valid()) continue;
        if ((!s->held.empty() || s == pod_slot.get()) && !s->ls.busy()) consider(s->next_heartbeat);
        if (s->ls.busy() && s->op != Op::wait_lock) consider(s->ls.sent_at() + cfg.fence_after);
        fds.push_back({s->ls.socket(), POLLIN, 0});
        polled.push_back(s);
      }
      const auto wait_ms = std::max<std::int64_t>(0, ms_between(now, until) + 1);
      ::poll(fds.data(), fds.size(), static_cast<int>(wait_ms));
      if (fds[0].revents) wake.drain();
      now = Clock::now();
      for (std::size_t i = 0; i < polled.size(); ++i) {
        Slot& s = *polled[i];
        if (!s.ls.valid()) continue;
        if (fds[i + 1].revents != 0) {
          try {
            auto r = s.ls.collect();
            if (s.ls.take_notifications() > 0 && &s == pod_slot.get()) {
              next_poll = now;  // a leader resigned: try at once
              wa::log::debug("leader_notify_received");
            }
            if (r) on_result(s, std::move(*r));
          } catch (const pg::Error& ex) {
            on_query_error(s, ex);
            continue;
          }
        }
        if (s.ls.valid() && s.ls.busy() && s.op != Op::wait_lock && now - s.ls.sent_at() >= cfg.fence_after) {
          s.op = Op::none;
          fail_slot(s, fmt::format("{}: no answer within {} ms", s.ls.in_flight_purpose(), cfg.fence_after.count()));
        }
      }
      // Waiters whose account is no longer a candidate are released.
      for (auto it = waiters.begin(); it != waiters.end();) {
        auto e = entries.find(it->first);
        const bool keep = e != entries.end() && (candidate(e->second) || e->second.slot == it->second.get());
        if (!keep) {
          it->second->ls.cancel();
          it->second->ls.close();
          it = waiters.erase(it);
        } else {
          ++it;
        }
      }
    }
  }

  // Graceful: stop connections, record 'resigned', unlock, NOTIFY. The caller bounds the time.
  void resign_all() {
    {
      std::lock_guard lk(posted_mu);
      for (auto& m : moves) m->done.set_value(false);
      moves.clear();
    }
    publish();
    std::map<Slot*, std::vector<std::int64_t>> to_unlock;
    std::vector<std::string> resigned;
    for (auto& [id, e] : entries) {
      if (!leads(e.role)) continue;
      const bool fresh = guard->fresh(id);
      sup.release(id, core::DisconnectReason::instance_restart);
      guard->disarm(id);
      metrics.connected(id).Set(0);
      // The stopped connection writes nothing more; the registry learns why it ended from us
      // (still under our lease: the lock is released only below).
      if (fresh && sup.has_transport() && store.ok()) {
        try {
          store::set_disconnected(store, id, e.epoch, "instance_restart", "pod shutting down (graceful handover)",
                                  "disconnected", &metrics.store_writes_refused);
        } catch (const std::exception& ex) {
          wa::log::warn("account_status_not_written").kv("business_id", id).kv("error", ex.what());
        }
      }
      set_role(e, Role::resigning, "shutdown");
      record(e, store::EventKind::resigned, ms_between(e.won_at, Clock::now()), "graceful shutdown");
      if (e.slot) to_unlock[e.slot].push_back(e.acc.lock_key);
      resigned.push_back(id);
    }
    // Waiters that hold nothing: cancel their pg_advisory_lock so the server drops them at once.
    for (auto& [id, w] : waiters)
      if (w->held.empty() && w->ls.valid()) w->ls.cancel();
    for (auto& [slot, keys] : to_unlock) {
      if (!slot->ls.valid()) continue;
      // Let an in-flight statement finish (it is bounded by the heartbeat deadline).
      const auto deadline = Clock::now() + std::chrono::milliseconds(2000);
      try {
        while (slot->ls.busy() && Clock::now() < deadline) {
          pollfd p{slot->ls.socket(), POLLIN, 0};
          ::poll(&p, 1, 50);
          if (auto r = slot->ls.collect(); r && slot->op == Op::try_lock) {
            // Anything won in the meantime is released below with the rest of the session.
            slot->op = Op::none;
          }
        }
        if (!slot->ls.busy()) {
          slot->ls.conn().exec("release advisory locks on shutdown", kUnlockSql, {array_literal(keys)});
          for (auto& [id, e] : entries)
            if (e.slot == slot && e.role == Role::resigning)
              slot->ls.conn().exec("notify standbys", kNotifySql, {id});
        }
      } catch (const std::exception& ex) {
        wa::log::warn("resign_unlock_failed").kv("session", slot->name).kv("error", ex.what());
      }
    }
    for (auto& [id, e] : entries) {
      if (e.role == Role::resigning) {
        metrics.leader(id).Set(0);
        wa::log::info("resigned").kv("business_id", id).kv("epoch", e.epoch);
      }
    }
    if (store.ok() && member_registered) {
      try {
        store::remove_member(store, cfg.pod);
      } catch (const std::exception& ex) {
        wa::log::warn("member_remove_failed").kv("error", ex.what());
      }
    }
    for (auto* s : slots()) s->ls.close();
    store.close();
    publish();
  }
};

Elector::Elector(ElectorConfig cfg, Metrics& metrics, Supervisor& supervisor)
    : impl_(std::make_unique<Impl>(std::move(cfg), metrics, supervisor)) {}

Elector::~Elector() = default;

void Elector::set_on_loop(std::function<void()> f) { impl_->on_loop = std::move(f); }

void Elector::run() {
  wa::log::info("elector_started")
      .kv("standby_wait", impl_->cfg.standby_wait == StandbyWait::poll ? "poll" : "block")
      .kv("fence_after_ms", static_cast<std::int64_t>(impl_->cfg.fence_after.count()))
      .kv("server_release_after_ms", impl_->lock_settings.server_tcp_user_timeout_ms)
      .kv("heartbeat_interval_ms", static_cast<std::int64_t>(impl_->cfg.heartbeat_interval.count()))
      .kv("poll_interval_ms", static_cast<std::int64_t>(impl_->cfg.poll_interval.count()));
  try {
    impl_->loop();
  } catch (...) {
    impl_->stopping = true;
    impl_->resign_all();
    throw;
  }
  impl_->resign_all();
  wa::log::info("elector_stopped");
}

void Elector::stop() {
  impl_->stopping = true;
  impl_->wake.wake();
}

ElectorSnapshot Elector::snapshot() const {
  std::lock_guard lk(impl_->snap_mu);
  return impl_->snap;
}

bool Elector::lease_fresh(const std::string& business_id) const { return impl_->guard->fresh(business_id); }

bool Elector::move_lock(const std::string& business_id, std::int64_t new_key, std::function<void()> commit,
                        std::function<bool()> abandon) {
  if (std::this_thread::get_id() == impl_->loop_thread.load())
    throw std::logic_error("Elector::move_lock called from the elector's own thread");
  auto m = std::make_shared<Impl::MoveRequest>();
  m->business_id = business_id;
  m->new_key = new_key;
  m->commit = std::move(commit);
  auto fut = m->done.get_future();
  {
    std::lock_guard lk(impl_->posted_mu);
    if (impl_->stopping.load()) return false;
    impl_->moves.push_back(m);
  }
  impl_->wake.wake();
  if (!abandon) return fut.get();
  while (fut.wait_for(std::chrono::milliseconds(20)) != std::future_status::ready)
    if (abandon()) return false;
  return fut.get();
}

int Elector::lock_backend_pid(const std::string& business_id) const {
  std::lock_guard lk(impl_->snap_mu);
  auto it = impl_->pids.find(business_id);
  return it == impl_->pids.end() ? 0 : it->second;
}

}  // namespace wa::ha
