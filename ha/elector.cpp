#include "ha/elector_impl.h"

namespace wa::ha {

std::string validate(const ElectorConfig& c) {
  if (c.pod.empty()) return "--pod (POD_NAME) must not be empty";
  if (c.heartbeat_interval.count() < 50) return "--heartbeat-interval must be at least 50ms";
  if (c.fence_after < 2 * c.heartbeat_interval)
    return "--fence-after must be at least twice --heartbeat-interval (one lost heartbeat must not fence)";
  if (c.poll_interval.count() < 10) return "--poll-interval must be at least 10ms";
  if (c.share_slack < 0) return "--share-slack must not be negative";
  if (c.takeover_grace.count() < 0) return "--takeover-grace must not be negative";
  if (c.handover_interval.count() < 10) return "--handover-interval must be at least 10ms";
  try {
    (void)safe_session_settings(c.fence_after, c.fence_margin);
  } catch (const std::invalid_argument& e) {
    return fmt::format("--fence-after: {}", e.what());
  }
  return {};
}

// ---- the loop: follower state and leader state of every account, one tick at a time --------

void Elector::Impl::loop() {
  moves->loop_thread = std::this_thread::get_id();
  while (!stopping.load()) {
    if (on_loop) on_loop();
    // First thing after any stall (SIGSTOP, a frozen VM): a lease whose deadline passed is fenced
    // here before this thread acts on anything else.
    for (auto& [id, e] : entries)
      if (leads(e.role) && !guard->fresh(id))
        fence_slot_of(e, "lease deadline passed (the process was stalled)");
    handle_posted();
    auto now = Clock::now();
    ensure_store(now);
    relist(now);
    ensure_lock_sessions(now);
    for (auto& [id, e] : entries) hold_or_start(e, now);
    rebalance(now);
    for (auto* s : slots()) schedule(*s, now);
    member_beat(now);
    publish();
    sleep_and_collect();
    release_unneeded_waiters();
  }
}

// Follower: one lock attempt per tick for all candidates (poll) or a waiter per account (block).
// Leader: heartbeats first, then begun leases and liveness checks of held takeovers.
void Elector::Impl::schedule(LockSlot& slot, Clock::time_point now) {
  if (!slot.valid() || slot.busy()) return;
  try {
    if (!slot.held.empty() && now >= slot.next_heartbeat) {
      slot.send_heartbeat();
      return;
    }
    for (auto& [id, e] : entries)
      if (e.slot == &slot && !leads(e.role) && e.lease == nullptr) {
        slot.send_begin_lease(id, cfg.pod, e.acc.lock_key);
        return;
      }
    for (auto& [id, e] : entries)
      if (e.slot == &slot && e.holding && now >= e.next_alive_check) {
        e.next_alive_check = now + kAliveCheckEvery;
        slot.send_alive_check(id, e.hold_pod, e.hold_epoch);
        return;
      }
    if (&slot == pod_slot.get() && now >= next_poll) {
      std::vector<std::int64_t> keys, probes;
      choose_keys(now, slot, keys, probes);
      if (!keys.empty() || !probes.empty()) {
        slot.send_try(std::move(keys), probes);
        // A try is a keepalive for a session that holds nothing; it never proves a held lock, so
        // it must not push a leader's heartbeat out.
        if (slot.held.empty()) slot.next_heartbeat = now + cfg.heartbeat_interval;
        return;
      }
      next_poll = now + jittered(cfg.poll_interval, cfg.poll_jitter, rng);
    }
    // A session that holds nothing still talks, or idle_session_timeout closes it.
    if (&slot == pod_slot.get() && slot.held.empty() && now >= slot.next_heartbeat) {
      slot.send_heartbeat("lock session keepalive");
      slot.next_heartbeat = now + cfg.heartbeat_interval;
    }
  } catch (const pg::Error& ex) {
    fail_slot(slot, ex.what());
  }
}

void Elector::Impl::on_outcome(LockSlot& slot, LockSlot::Outcome o) {
  const auto now = Clock::now();
  switch (o.op) {
    case Op::heartbeat: {
      metrics.lock_heartbeat_seconds.Observe(std::chrono::duration<double>(now - o.sent).count());
      if (o.identity_changed) {
        wa::log::error("lock_session_identity_changed")
            .kv("session", slot.name())
            .kv("message",
                "the heartbeat reached another backend than the one holding the locks (transaction-pooling "
                "proxy?): connect directly or through PgBouncer in session mode");
        fail_slot(slot, "backend pid or backend_start changed");
        return;
      }
      if (!o.missing.empty()) {
        wa::log::error("lock_missing")
            .kv("session", slot.name())
            .kv("backend_pid", slot.backend_pid())
            .kv("message",
                "an advisory lock this pod holds is not in pg_locks for its session: the lock session "
                "does not keep one server session (transaction-pooling PgBouncer?) or the server "
                "restarted; connect directly or through PgBouncer in session mode");
        fail_slot(slot, "held advisory lock missing from pg_locks");
        return;
      }
      for (auto& [id, e] : entries)
        if (e.slot == &slot && e.lease) extend(e, o.sent + cfg.fence_after);
      slot.next_heartbeat = o.sent + cfg.heartbeat_interval;
      break;
    }
    case Op::try_lock: {
      poll_backoff.reset();
      next_poll = now + jittered(cfg.poll_interval, cfg.poll_jitter, rng);
      for (std::size_t i = 0; i < o.busy.size(); ++i) metrics.lock_attempt("busy").Increment();
      observe(o, now);
      std::vector<std::int64_t> orphans;
      for (auto k : o.won) {
        AccountLease* winner = nullptr;
        for (auto& [id, e] : entries)
          if (candidate(e) && e.acc.lock_key == k) winner = &e;
        if (winner)
          won(*winner, slot);
        else
          orphans.push_back(k);
      }
      if (!orphans.empty()) unlock(slot, orphans);
      break;
    }
    case Op::wait_lock: {
      auto it = entries.find(slot.name());
      if (it == entries.end() || !candidate(it->second)) {
        fail_slot(slot, "won a lock for an account no longer competed for");
        return;
      }
      won(it->second, slot);
      // begin_lease goes first; the heartbeat after it confirms the key in pg_locks.
      slot.next_heartbeat = now + cfg.heartbeat_interval;
      break;
    }
    case Op::begin_lease: {
      auto it = entries.find(o.account);
      if (it != entries.end() && it->second.slot == &slot) lease_begun(it->second, slot, o);
      break;
    }
    case Op::alive_check: {
      auto it = entries.find(o.account);
      if (it != entries.end() && it->second.holding && !o.alive)
        end_hold(it->second, fmt::format("pod {} no longer holds its liveness lock or recorded that it stopped",
                                         it->second.hold_pod));
      break;
    }
    case Op::none: break;
  }
}

// Won the account's key on `slot`: begin the lease next (asynchronously, see schedule()).
void Elector::Impl::won(AccountLease& e, LockSlot& slot) {
  if (e.role == Role::fenced) transition(e, Role::standby, "lock session re-established");
  e.slot = &slot;
  e.lease.reset();
  e.handed_over = false;
}

// begin_lease answered. Its send time is the lease's proof: the server received it then, with
// the lock held, so it cannot release the lock before that instant plus its timeout.
void Elector::Impl::lease_begun(AccountLease& e, LockSlot& slot, const LockSlot::Outcome& o) {
  const auto k = e.acc.lock_key;
  if (!o.lease) {
    // Not begun: the account is gone, logged out, or its key moved (pairing) since we listed it.
    std::optional<store::Account> current;
    try {
      current = store::get_account(slot.conn(), e.id());
      unlock(slot, {k});
    } catch (const pg::Error& ex) {
      fail_slot(slot, ex.what());
      return;
    }
    e.slot = nullptr;
    if (!current) {
      wa::log::warn("account_vanished").kv("business_id", e.id());
      e.listed = false;
      return;
    }
    wa::log::info(current->status == "logged_out" ? "account_logged_out_skipped" : "lock_key_changed")
        .kv("business_id", e.id())
        .kv("note", "won a lock that no longer leads the account; released it");
    e.acc = *current;
    if (&slot != pod_slot.get())
      slot.close();  // a waiter waits again, on the new key
    else
      next_poll = Clock::now();
    return;
  }
  const auto deadline = o.sent + cfg.fence_after;
  if (Clock::now() >= deadline) {
    fail_slot(slot, "begin_lease answered after the fence deadline");
    return;
  }
  const auto& l = *o.lease;
  lock_retry.reset();  // this session did its job: the next loss retries fast again
  lock_read_only = false;
  e.epoch = l.epoch;
  e.won_at = Clock::now();
  e.login_observed = false;
  e.paired_at_win = e.acc.jid.has_value() && !e.acc.jid->empty();
  e.logged_in_at = {};
  const std::string id = e.id();
  e.lease = std::make_shared<Lease>(
      id, l.epoch, deadline, std::make_shared<store::WriteFence>(id, l.epoch, &metrics.store_writes_refused),
      [m = std::weak_ptr<LockMoves>(moves)](const std::string& bid, std::int64_t key,
                                            std::function<void()> commit, std::function<bool()> abandon) {
        auto mv = m.lock();
        return mv && mv->request(bid, key, std::move(commit), std::move(abandon));
      });
  guard->arm(id, deadline);
  set_led(e, slot_watch_id(slot));
  metrics.lock_attempt("acquired").Increment();
  {
    auto line = wa::log::info("lock_acquired");
    line.kv("business_id", id)
        .kv("epoch", l.epoch)
        .kv("failover", l.failover)
        .kv("backend_pid", slot.backend_pid());
    if (l.previous_pod) line.kv("previous_pod", *l.previous_pod).kv("previous_alive", l.previous_alive);
  }
  transition(e, Role::leader, "won the advisory lock");
  recorder.record(
      id, l.failover ? store::EventKind::takeover : store::EventKind::acquired, l.epoch, std::nullopt,
      l.previous_pod ? fmt::format("previous_pod={}", *l.previous_pod) : std::string("first lease"));
  e.holding =
      l.previous_alive && l.previous_pod && *l.previous_pod != cfg.pod && stopped_epoch[id] < l.previous_epoch;
  if (e.holding) {
    e.hold_pod = *l.previous_pod;
    e.hold_epoch = l.previous_epoch;
    e.hold_until = e.won_at + cfg.fence_after + kHoldMargin;
    e.next_alive_check = Clock::now() + kAliveCheckEvery;
    wa::log::warn("takeover_hold")
        .kv("business_id", id)
        .kv("previous_pod", e.hold_pod)
        .kv("hold_max_ms", ms_between(e.won_at, e.hold_until))
        .kv("message",
            "the previous holder's pod is alive: connecting once it says it stopped, dies, or its lease is "
            "over");
    return;
  }
  start_connection(e);
}

void Elector::Impl::hold_or_start(AccountLease& e, Clock::time_point now) {
  if (e.holding && now >= e.hold_until) end_hold(e, "the previous holder's lease deadline passed");
}

void Elector::Impl::end_hold(AccountLease& e, std::string_view why) {
  if (!e.holding || !leads(e.role)) return;
  e.holding = false;
  wa::log::info("takeover_hold_ended")
      .kv("business_id", e.id())
      .kv("held_ms", ms_between(e.won_at, Clock::now()))
      .kv("reason", why);
  start_connection(e);
}

void Elector::Impl::start_connection(AccountLease& e) {
  const std::string id = e.id();
  const auto epoch = e.epoch;
  core::ConnectionEvents ev;
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
    wa::log::warn("connection_disconnected")
        .kv("business_id", id)
        .kv("reason", core::to_string(r))
        .kv("details", details);
    Posted p{Posted::conn_disconnect, id};
    p.reason = r;
    p.details = details;
    p.epoch = epoch;
    post(std::move(p));
  };
  sup.start(e.lease, e.acc.jid.value_or(""), std::move(ev));
  if (!sup.has_transport()) {
    wa::log::warn("no_whatsapp_transport")
        .kv("business_id", id)
        .kv("message", "no WhatsApp transport built yet: leading the account without a connection");
    transition(e, Role::active, "no WhatsApp transport built yet");
  }
}

void Elector::Impl::extend(AccountLease& e, Clock::time_point deadline) {
  e.lease->extend(deadline);
  guard->arm(e.id(), deadline);
}

void Elector::Impl::handle_posted() {
  std::vector<Posted> items;
  {
    std::lock_guard lk(posted_mu);
    items.swap(posted);
  }
  for (auto& m : moves->take()) {
    auto it = entries.find(m->business_id);
    if (stopping.load() || it == entries.end() || !leads(it->second.role) || it->second.slot == nullptr ||
        !it->second.slot->valid()) {
      m->done.set_value(false);
      continue;
    }
    try {
      if (!LockMoves::perform(*m, it->second, *it->second.slot)) {
        moves->put_back(m);
        continue;
      }
    } catch (const pg::Error& ex) {
      fail_slot(*it->second.slot, ex.what());
    }
    // The move stored a new jid: re-read the registry now, so /status shows it at once.
    next_relist = Clock::now();
  }
  for (auto& p : items) {
    if (p.kind == Posted::database_back) {
      // The liveness session reached the database again: every other session tries now.
      const auto now = Clock::now();
      if (!store.ok()) next_store_attempt = now;
      next_lock_attempt = now;
      recorder.retry_now();
      continue;
    }
    if (p.kind == Posted::any_notice) {
      next_poll = Clock::now();  // a leader resigned: try at once
      continue;
    }
    if (p.kind == Posted::session_lost) {
      // The watch already stopped the accounts; close the session unless it is a newer one (the
      // slot may have been reopened since), which is checked by its own socket.
      auto it = watch_ids.find(p.watch_id);
      if (it == watch_ids.end() || !it->second->valid()) continue;
      pollfd pf{it->second->socket(), POLLRDHUP, 0};
      if (::poll(&pf, 1, 0) > 0 && (pf.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0)
        fail_slot(*it->second, "the server closed the lock session");
      continue;
    }
    if (p.kind == Posted::liveness_lost) {
      for (auto* s : slots())
        if (s->valid()) fail_slot(*s, "this pod's liveness session was lost");
      continue;
    }
    if (p.kind == Posted::leader_notice && p.notice.kind == store::kStepDownNotice) {
      // `waconnector accounts step-down`: addressed to the pod and epoch it saw leading. The
      // account is given up like a replaced session: connection stopped, lock released, standbys
      // woken, and this pod waits --give-up-backoff before competing again.
      auto it = entries.find(p.business_id);
      if (p.notice.pod == cfg.pod && it != entries.end() && leads(it->second.role) &&
          it->second.epoch == p.notice.epoch) {
        wa::log::info("step_down_requested").kv("business_id", p.business_id).kv("epoch", p.notice.epoch);
        give_up(it->second, core::DisconnectReason::user_initiated, "step-down requested by an operator");
      }
      continue;
    }
    if (p.kind == Posted::leader_notice) {
      auto& se = stopped_epoch[p.business_id];
      se = std::max(se, p.notice.epoch);
      auto it = entries.find(p.business_id);
      // The account's own target let it go (shutdown, gave up): nobody is about to take it, so
      // the others need not wait the grace.
      if (it != entries.end() && p.notice.kind == "resigned" && p.notice.pod == it->second.target &&
          p.notice.pod != cfg.pod)
        it->second.free_since = Clock::now() - cfg.takeover_grace;
      // After a primary failover the epoch jumps to the new timeline's band (store/accounts.h), so
      // the previous holder's epoch may be below ours - 1: its own pod saying it stopped counts.
      if (it != entries.end() && it->second.holding &&
          (p.notice.epoch >= it->second.hold_epoch ||
           (p.notice.pod == it->second.hold_pod && p.notice.epoch < it->second.epoch)))
        end_hold(it->second,
                 fmt::format("pod {} said it {} (epoch {})", p.notice.pod, p.notice.kind, p.notice.epoch));
      continue;
    }
    auto it = entries.find(p.business_id);
    if (it == entries.end()) continue;
    auto& e = it->second;
    if (p.kind == Posted::fence_deadline) {
      if (leads(e.role))
        fence_slot_of(e, fmt::format("heartbeat deadline: no successful lock heartbeat for {} ms",
                                     cfg.fence_after.count()));
    } else if (p.kind == Posted::conn_state) {
      if (!leads(e.role) || p.epoch != e.epoch) continue;  // a previous lease's connection
      if (e.role == Role::leader && p.state == core::ConnectionState::logged_in)
        transition(e, Role::active, "WhatsApp connection logged in");
      if (p.state == core::ConnectionState::logged_in) {
        e.logged_in_at = Clock::now();
        if (!e.login_observed && e.won_at != Clock::time_point{}) {
          e.login_observed = true;
          const auto secs = std::chrono::duration<double>(Clock::now() - e.won_at).count();
          if (e.paired_at_win) metrics.failover_seconds.Observe(secs);
          wa::log::info("lease_logged_in")
              .kv("business_id", e.id())
              .kv("epoch", e.epoch)
              .kv("lock_to_login_ms", static_cast<std::int64_t>(secs * 1000))
              .kv("counted_as_failover", e.paired_at_win);
        }
      }
    } else if (p.kind == Posted::conn_disconnect) {
      if (!leads(e.role) || p.epoch != e.epoch) continue;
      // Only a final end is acted on; transient ends are followed by the client's reconnect.
      const auto st = sup.connection_state(e.id());
      if (st && *st == core::ConnectionState::failed) give_up(e, p.reason, p.details);
    }
  }
}

Elector::Elector(ElectorConfig cfg, Metrics& metrics, Supervisor& supervisor)
    : impl_(std::make_unique<Impl>(std::move(cfg), metrics, supervisor)) {}

Elector::~Elector() = default;

void Elector::set_on_loop(std::function<void()> f) {
  impl_->on_loop = std::move(f);
}

void Elector::run() {
  wa::log::info("elector_started")
      .kv("standby_wait", impl_->cfg.standby_wait == StandbyWait::poll ? "poll" : "block")
      .kv("fence_after_ms", static_cast<std::int64_t>(impl_->cfg.fence_after.count()))
      .kv("server_release_after_ms", impl_->lock_settings.server_tcp_user_timeout_ms)
      .kv("lock_timeout_ms", impl_->lock_settings.lock_timeout_ms)
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

bool Elector::lease_fresh(const std::string& business_id) const {
  return impl_->guard->fresh(business_id);
}

std::shared_ptr<Lease> Elector::lease(const std::string& business_id) const {
  return impl_->sup.lease(business_id);
}

bool Elector::move_lock(const std::string& business_id, std::int64_t new_key, std::function<void()> commit,
                        std::function<bool()> abandon) {
  if (impl_->stopping.load()) return false;
  return impl_->moves->request(business_id, new_key, std::move(commit), std::move(abandon));
}

int Elector::lock_backend_pid(const std::string& business_id) const {
  std::lock_guard lk(impl_->snap_mu);
  auto it = impl_->pids.find(business_id);
  return it == impl_->pids.end() ? 0 : it->second;
}

}  // namespace wa::ha
