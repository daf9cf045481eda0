// The elector's sessions and plumbing: the registry session (reads only), lock sessions and
// waiters, the sleep between ticks, and the /status snapshot. Part of the elector (elector_impl.h).
#include "ha/elector_impl.h"

namespace wa::ha {

bool Elector::Impl::candidate(const AccountLease& e) const {
  return e.listed && (e.role == Role::standby || e.role == Role::fenced) && e.slot == nullptr &&
         e.acc.status != "logged_out" && Clock::now() >= e.compete_after && watch->alive();
}

void Elector::Impl::ensure_store(Clock::time_point now) {
  if (store.ok() || now < next_store_attempt) return;
  try {
    // The pool checks the schema window (store/migrator.h) on every connection it opens.
    store.reopen([&](pg::Connection& c) {
      if (cfg.lock_keys) store::require_lock_key_mode(c, *cfg.lock_keys);
    });
    const bool was_down = db_retry.failures() > 0;
    db_retry.reset();
    // The database is back: the other sessions need not wait for their own next retry.
    if (!pod_slot || !pod_slot->valid()) next_lock_attempt = now;
    if (was_down) {
      watch->retry_now();
      recorder.retry_now();
    }
    next_relist = now;
    next_member = now;
    set_error({});
    wa::log::info("database_connected");
  } catch (const store::LockKeyModeMismatch&) {
    throw;
  } catch (const std::exception& ex) {
    store.close();
    const auto delay = db_retry.next(ex.what());
    next_store_attempt = now + delay;
    set_error(ex.what());
    wa::log::error("database_unavailable")
        .kv("error", ex.what())
        .kv("retry_in_ms", static_cast<std::int64_t>(delay.count()));
  }
}

void Elector::Impl::set_error(std::string e) {
  std::lock_guard lk(snap_mu);
  snap.last_error = std::move(e);
}

void Elector::Impl::relist(Clock::time_point now) {
  // The live set is read more often than the accounts: a pod that just started sees its peers
  // (and queues their waiters) within a second of their first member beat.
  if (store.ok() && now >= next_live && now < next_relist) {
    next_live = now + kLiveRefresh;
    refresh_live(false);
  }
  if (!store.ok() || now < next_relist) return;
  next_live = now + kLiveRefresh;
  next_relist = now + cfg.relist_interval;
  std::vector<store::Account> list;
  try {
    list = store.with([&](pg::Connection& c) { return store::list_accounts(c, cfg.business_ids); });
  } catch (const std::exception& ex) {
    wa::log::warn("list_accounts_failed").kv("error", ex.what());
    if (!store.ok()) store.close();
    return;
  }
  for (auto& [id, e] : entries) e.listed = false;
  for (auto& a : list) {
    auto it = entries.find(a.business_id);
    if (it == entries.end()) {
      AccountLease e;
      e.since_ms = unix_ms_now();
      e.acc = a;
      metrics.leader(a.business_id).Set(0);
      wa::log::info("account_discovered").kv("business_id", a.business_id).kv("status", a.status);
      entries.emplace(a.business_id, std::move(e));
      continue;
    }
    auto& e = it->second;
    e.listed = true;
    if (leads(e.role) || e.slot) {
      // A leader keeps the key it holds; a jid change moves the key via move_lock().
      e.acc.status = a.status;
      e.acc.jid = a.jid;
      continue;
    }
    // A block-mode waiter still queued on the old key must wait on the new one.
    if (e.acc.lock_key != a.lock_key)
      if (auto w = waiters.find(a.business_id);
          w != waiters.end() && w->second->valid() && w->second->held.empty()) {
        w->second->cancel();
        w->second->close();
      }
    e.acc = a;
  }
  // A deleted account (`accounts remove`) that this pod neither leads nor is taking: forget it,
  // metric series included, so its NoLeader alert ends. Re-registering makes it a new entry.
  for (auto it = entries.begin(); it != entries.end();) {
    const auto& e = it->second;
    if (e.listed || leads(e.role) || e.role == Role::resigning || e.slot || e.holding) {
      ++it;
      continue;
    }
    wa::log::info("account_forgotten").kv("business_id", it->first).kv("reason", "no longer registered");
    metrics.forget_account(it->first);
    it = entries.erase(it);
  }
  for (const auto& id : cfg.business_ids)
    if (!entries.count(id)) wa::log::warn("account_not_registered").kv("business_id", id);
  refresh_live(true);
}

void Elector::Impl::ensure_lock_sessions(Clock::time_point now) {
  if (!store.ok() || !watch->alive()) return;
  if (cfg.standby_wait == StandbyWait::poll) {
    if (pod_slot && pod_slot->valid()) return;
    if (now < next_lock_attempt) return;
    if (!pod_slot) pod_slot = new_slot("pod");
    if (!open_slot(*pod_slot, "lock", now, 0)) return;
    next_poll = now;
    for (auto& [id, e] : entries)
      if (e.role == Role::fenced) transition(e, Role::standby, "lock session re-established");
    return;
  }
  for (auto& [id, e] : entries) {
    if (!candidate(e)) continue;
    auto& w = waiters[id];
    if (!w) w = new_slot(id);
    if (w->valid()) continue;
    if (now < next_lock_attempt) return;
    if (!open_slot(*w, "wait", now, 1000)) return;
    try {
      w->send_wait(e.acc.lock_key, id);
    } catch (const pg::Error& ex) {
      fail_slot(*w, ex.what());
      return;
    }
    if (e.role == Role::fenced) transition(e, Role::standby, "lock session re-established");
  }
}

std::unique_ptr<LockSlot> Elector::Impl::new_slot(const std::string& name) {
  const int id = next_watch_id++;
  auto s = std::make_unique<LockSlot>(name, id, *watch);
  watch_ids[id] = s.get();
  return s;
}

bool Elector::Impl::open_slot(LockSlot& slot, std::string_view kind, Clock::time_point now,
                              int check_interval_ms) {
  auto s = lock_settings;
  s.application_name = fmt::format("waconnector/{}/{}", cfg.pod, kind);
  s.purpose = fmt::format("{} session of pod {}", kind, cfg.pod);
  s.client_connection_check_interval_ms = check_interval_ms;
  try {
    slot.open(s);
    // begin_lease writes the registry through this session: the same schema window as the store
    // sessions, checked on every reconnect.
    store::require_schema(slot.conn());
    wa::log::info("lock_session_open")
        .kv("session", slot.name())
        .kv("backend_pid", slot.backend_pid())
        .kv("server_tcp_user_timeout_ms", s.server_tcp_user_timeout_ms)
        .kv("unix_socket", slot.session().unix_socket());
    return true;
  } catch (const std::exception& ex) {
    slot.close();
    const auto delay = lock_retry.next(ex.what());
    next_lock_attempt = now + delay;
    wa::log::error("lock_session_unavailable")
        .kv("error", ex.what())
        .kv("retry_in_ms", static_cast<std::int64_t>(delay.count()));
    return false;
  }
}

void Elector::Impl::on_query_error(LockSlot& slot, Op op, const pg::Error& ex) {
  if (op == Op::begin_lease && !ex.connection_lost() && ex.sqlstate() == "55P03") {
    // lock_timeout: an old leader's write still holds the account row. Let the lock go and try
    // again later rather than keep every account on this session waiting.
    for (auto& [id, e] : entries)
      if (e.slot == &slot && !leads(e.role)) {
        e.slot = nullptr;
        e.compete_after = Clock::now() + cfg.poll_interval;
        unlock(slot, {e.acc.lock_key});
        metrics.lock_attempt("busy").Increment();
        wa::log::warn("begin_lease_lock_timeout").kv("business_id", id).kv("error", ex.what());
        break;
      }
    return;
  }
  if (op == Op::begin_lease) lock_read_only = ex.sqlstate() == "25006";
  if (ex.connection_lost() || op != Op::try_lock) {
    if (op == Op::try_lock || op == Op::wait_lock) metrics.lock_attempt("error").Increment();
    fail_slot(slot, ex.what());
    return;
  }
  // A statement error on a live session (e.g. a bad key list): back off the polls.
  metrics.lock_attempt("error").Increment();
  const auto delay = poll_backoff.next();
  next_poll = Clock::now() + delay;
  wa::log::error("lock_poll_failed")
      .kv("error", ex.what())
      .kv("retry_in_ms", static_cast<std::int64_t>(delay.count()));
}

void Elector::Impl::member_beat(Clock::time_point now) {
  if (!store.ok() || now < next_member) return;
  next_member = now + cfg.member_interval;
  int leading = 0;
  for (auto& [id, e] : entries) leading += leads(e.role) ? 1 : 0;
  recorder.member_beat(leading, pod_slot && pod_slot->valid() ? pod_slot->backend_pid() : 0);
  if (cfg.activity) recorder.touch_activity(cfg.activity);
}

void Elector::Impl::publish() {
  ElectorSnapshot s;
  // Reachable: the registry and liveness sessions are up. Not the lock session: it is reopened
  // with backoff after failures (a read-only database), and readiness must not flap with it.
  s.db_reachable = store.ok() && watch->alive();
  s.db_writable = recorder.writable() && !lock_read_only;
  s.running = !stopping.load();
  metrics.database_up.Set(s.db_reachable && s.db_writable ? 1 : 0);
  std::map<std::string, int> p;
  s.share.live_pods = live_pods;
  s.share.accounts = competing;
  s.share.fair_share = share;
  s.share.leading = leading_count();
  s.share.targeted = targeted;
  s.share.handovers = handovers;
  metrics.accounts_led.Set(s.share.leading);
  for (auto& [id, e] : entries) {
    AccountSnapshot a;
    a.business_id = id;
    a.jid = e.acc.jid.value_or("");
    a.role = e.role;
    a.epoch = e.epoch;
    a.since_unix_ms = e.since_ms;
    if (auto st = sup.connection_state(id)) a.connection = core::to_string(*st);
    s.accounts.push_back(std::move(a));
    if (e.slot && e.slot->valid()) p[id] = e.slot->backend_pid();
  }
  std::lock_guard lk(snap_mu);
  s.last_error = snap.last_error;
  snap = std::move(s);
  pids = std::move(p);
}

// Sleeps until the next timer or I/O, then takes what the lock sessions answered.
void Elector::Impl::sleep_and_collect() {
  auto now = Clock::now();
  auto until = now + std::chrono::milliseconds(1000);
  auto consider = [&](Clock::time_point t) {
    if (t > Clock::time_point{}) until = std::min(until, t);
  };
  if (!store.ok()) consider(next_store_attempt);
  consider(next_relist);
  consider(next_live);
  consider(next_member);
  consider(cfg.standby_wait == StandbyWait::poll && pod_slot && pod_slot->valid() ? next_poll
                                                                                  : next_lock_attempt);
  for (auto& [id, e] : entries) {
    if (e.compete_after > now) consider(e.compete_after);
    if (e.holding) consider(std::min(e.hold_until, e.next_alive_check));
  }
  if (!watch->alive()) consider(now + std::chrono::milliseconds(100));
  if (balancing() && leading_count() > share - cfg.share_slack) consider(next_handover);
  std::vector<pollfd> fds;
  std::vector<LockSlot*> polled;
  for (auto* s : slots()) {
    if (!s->valid()) continue;
    if ((!s->held.empty() || s == pod_slot.get()) && !s->busy()) consider(s->next_heartbeat);
    if (s->busy() && s->op() != Op::wait_lock) consider(s->sent_at() + cfg.fence_after);
    fds.push_back({s->socket(), POLLIN, 0});
    polled.push_back(s);
  }
  if (peers) peers->add_fds(fds);
  wake.wait(fds, until);
  now = Clock::now();
  if (peers)
    for (const auto& pod : peers->collect(fds)) peer_gone(pod);
  for (std::size_t i = 0; i < polled.size(); ++i) {
    LockSlot& s = *polled[i];
    if (!s.valid()) continue;
    if (fds[i].revents != 0) {
      const Op op = s.op();
      try {
        if (auto o = s.collect()) on_outcome(s, std::move(*o));
      } catch (const pg::Error& ex) {
        on_query_error(s, op, ex);
        continue;
      }
    }
    if (s.valid() && s.busy() && s.op() != Op::wait_lock && now - s.sent_at() >= cfg.fence_after)
      fail_slot(s, fmt::format("{}: no answer within {} ms", s.in_flight_purpose(), cfg.fence_after.count()));
  }
}

// Waiters whose account is no longer a candidate are released.
void Elector::Impl::release_unneeded_waiters() {
  for (auto it = waiters.begin(); it != waiters.end();) {
    auto e = entries.find(it->first);
    const bool keep = e != entries.end() && (candidate(e->second) || e->second.slot == it->second.get());
    if (keep) {
      ++it;
      continue;
    }
    it->second->cancel();
    it->second->close();
    watch_ids.erase(slot_watch_id(*it->second));
    it = waiters.erase(it);
  }
}

}  // namespace wa::ha
