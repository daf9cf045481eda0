// Leaving the leader state: fence (lost lock or deadline), give up (the connection ended for
// good) and resign (shutdown). Part of the elector (elector_impl.h).
#include "ha/elector_impl.h"

namespace wa::ha {

// On the watch thread: stop every account on lock session `watch_id` (0: every account) now,
// tell waiting new leaders, then let the loop do the bookkeeping.
void Elector::Impl::stop_now(int watch_id, const char* why) {
  std::vector<std::pair<std::string, std::int64_t>> ids;
  {
    std::lock_guard lk(led_mu);
    for (auto& [id, l] : led)
      if (watch_id == 0 || l.watch_id == watch_id) ids.emplace_back(id, l.epoch);
  }
  for (auto& [id, epoch] : ids) {
    sup.stop(id, core::DisconnectReason::lock_lost);
    watch->announce({id, epoch, "fenced", cfg.pod});
    wa::log::error("lock_session_lost_fenced").kv("business_id", id).kv("epoch", epoch).kv("reason", why);
  }
  Posted p{watch_id == 0 ? Posted::liveness_lost : Posted::session_lost, {}};
  p.watch_id = watch_id;
  post(std::move(p));
}

// Stops acting for the account at once (connection, writes), then does the bookkeeping.
void Elector::Impl::fence(AccountLease& e, std::string_view cause, bool lock_lost) {
  if (!leads(e.role)) {
    // A lease being begun (won, not yet led) just goes back to competing.
    if (e.slot && e.lease == nullptr) e.slot = nullptr;
    return;
  }
  sup.stop(e.id(), core::DisconnectReason::lock_lost);
  announce(e.id(), "fenced");
  guard->disarm(e.id());
  metrics.connected(e.id()).Set(0);
  metrics.fenced.Increment();
  if (lock_lost) metrics.lock_lost.Increment();
  transition(e, Role::fenced, cause);
  recorder.record(e.id(), store::EventKind::fenced, e.epoch, ms_between(e.won_at, Clock::now()),
                  std::string(cause));
  if (sup.has_transport()) recorder.mark_fenced(e.id(), e.epoch, std::string(cause));
  sup.release(e.id(), core::DisconnectReason::lock_lost);
  clear_led(e.id());
  if (e.slot) e.slot->held.erase(e.acc.lock_key);
  e.slot = nullptr;
  e.lease.reset();
  e.holding = false;
  // Healthy standbys get the first chance at an account this pod just lost; the session itself
  // reopens at once (ha/db_retry.h), so other accounts and a restarted database are not delayed.
  e.compete_after = Clock::now() + kFencedCompeteDelay;
  e.yield = true;
  e.free_since = {};
}

void Elector::Impl::fence_slot_of(AccountLease& e, std::string_view why) {
  LockSlot* slot = e.slot;
  fence(e, why, false);
  // The session's heartbeats are overdue; whatever else it holds is just as doubtful.
  if (slot) fail_slot(*slot, "heartbeat deadline passed");
}

// The session is in doubt: fence everything it holds BEFORE closing it (closing releases the
// locks, and someone else may win them at once).
void Elector::Impl::fail_slot(LockSlot& slot, std::string_view why) {
  for (auto& [id, e] : entries)
    if (e.slot == &slot) fence(e, fmt::format("lock session lost: {}", why), true);
  const bool was_valid = slot.valid();
  slot.close();
  // A session that served for a while starts the retries over (first ones fast: a restarted
  // server is back within ~150 ms); one that fails right after opening (a read-only database, a
  // proxy) keeps backing off, so sessions are not opened and closed in a tight loop.
  if (was_valid && Clock::now() - slot.opened_at >= kStableSession) lock_retry.reset();
  next_lock_attempt = Clock::now() + lock_retry.next(why);
  if (was_valid) wa::log::warn("lock_session_closed").kv("session", slot.name()).kv("reason", why);
}

void Elector::Impl::unlock(LockSlot& slot, const std::vector<std::int64_t>& keys) {
  try {
    slot.unlock(keys);
  } catch (const pg::Error& ex) {
    fail_slot(slot, ex.what());
  }
}

void Elector::Impl::notify_stopped(LockSlot& slot, const AccountLease& e) {
  if (!slot.valid()) return;
  try {
    store::notify(slot.conn(), store::kLeaderChannel,
                  store::notice_payload({e.id(), e.epoch, "resigned", cfg.pod}));
  } catch (const pg::Error& ex) {
    fail_slot(slot, ex.what());
  }
}

// The connection ended for good (logged out, replaced, failed): stop acting for the account,
// say why in the registry, release its lock and - unless nobody should take it - wake the
// standbys. Runs on the loop thread.
void Elector::Impl::give_up(AccountLease& e, core::DisconnectReason reason, const std::string& details) {
  if (!leads(e.role)) return;
  const std::string id = e.id();
  const bool lock_fresh = guard->fresh(id) && e.slot != nullptr && e.slot->valid();
  // Credentials and status were written by the connection's store; 'failed' is ours to say.
  const bool failed = reason == core::DisconnectReason::error || reason == core::DisconnectReason::unknown;
  if (failed && lock_fresh)
    recorder.set_disconnected(id, e.epoch, core::to_string(reason), details.substr(0, 1000), "failed", true);
  sup.release(id, reason);
  guard->disarm(id);
  metrics.connected(id).Set(0);
  transition(e, Role::resigning, fmt::format("connection gave up: {}", core::to_string(reason)));
  recorder.record(id, store::EventKind::resigned, e.epoch, ms_between(e.won_at, Clock::now()),
                  fmt::format("connection gave up: {}", core::to_string(reason)));
  const bool nobody = reason == core::DisconnectReason::logged_out;
  if (nobody) {
    e.acc.status = "logged_out";
    wa::log::error("account_logged_out")
        .kv("business_id", id)
        .kv("details", details)
        .kv("action",
            "credentials marked unusable; no pod competes for the account until it is paired again");
  } else {
    if (!e.give_up_backoff)
      e.give_up_backoff.emplace(cfg.give_up_backoff_initial, cfg.give_up_backoff_max, 0.2, rng());
    // A session that stayed up for a long time starts the backoff over.
    if (e.logged_in_at != Clock::time_point{} && Clock::now() - e.logged_in_at > cfg.give_up_backoff_max)
      e.give_up_backoff->reset();
    const auto delay = e.give_up_backoff->next();
    e.compete_after = Clock::now() + delay;
    auto line =
        wa::log::error(reason == core::DisconnectReason::replaced ? "stream_replaced" : "account_given_up");
    line.kv("business_id", id)
        .kv("epoch", e.epoch)
        .kv("reason", core::to_string(reason))
        .kv("details", details);
    line.kv("compete_again_in_ms", static_cast<std::int64_t>(delay.count()));
    if (reason == core::DisconnectReason::replaced)
      line.kv("message",
              lock_fresh ? "WhatsApp replaced this session while this pod still holds the account's lock: "
                           "someone OUTSIDE this cluster is using the account's credentials"
                         : "WhatsApp replaced this session; this pod's lease was already in doubt");
  }
  // The status write belongs to this lease: give it a moment before the lock goes.
  if (failed && lock_fresh) recorder.flush(std::chrono::milliseconds(1000));
  if (e.slot && e.slot->valid()) {
    LockSlot* slot = e.slot;
    // Said before the unlock too, so a waiter granted the lock at once already knows it need not
    // hold for us; the notice after it wakes the pollers.
    if (!nobody) notify_stopped(*slot, e);
    if (slot->valid()) unlock(*slot, {e.acc.lock_key});
    if (!nobody) notify_stopped(*slot, e);
  }
  clear_led(id);
  e.slot = nullptr;
  e.lease.reset();
  e.holding = false;
  transition(e, Role::standby, "gave the account up");
}

// Graceful: stop connections, record 'resigned', unlock, NOTIFY. The caller bounds the time.
void Elector::Impl::resign_all() {
  moves->close();
  publish();
  std::map<LockSlot*, std::vector<std::int64_t>> to_unlock;
  for (auto& [id, e] : entries) {
    if (!leads(e.role)) continue;
    const bool fresh = guard->fresh(id);
    sup.release(id, core::DisconnectReason::instance_restart);
    guard->disarm(id);
    metrics.connected(id).Set(0);
    // The stopped connection writes nothing more; the registry learns why it ended from us
    // (still under our lease: the lock is released only below, after the recorder flushed).
    if (fresh && sup.has_transport())
      recorder.set_disconnected(id, e.epoch, "instance_restart", "pod shutting down (graceful handover)",
                                "disconnected", false);
    transition(e, Role::resigning, "shutdown");
    recorder.record(id, store::EventKind::resigned, e.epoch, ms_between(e.won_at, Clock::now()),
                    "graceful shutdown");
    if (e.slot) to_unlock[e.slot].push_back(e.acc.lock_key);
  }
  recorder.flush(std::chrono::milliseconds(2000));
  // Waiters that hold nothing: cancel their pg_advisory_lock so the server drops them at once.
  for (auto& [id, w] : waiters)
    if (w->held.empty() && w->valid()) w->cancel();
  for (auto& [slot, keys] : to_unlock) {
    if (!slot->valid()) continue;
    // Let an in-flight statement finish (it is bounded by the heartbeat deadline).
    const auto deadline = Clock::now() + std::chrono::milliseconds(2000);
    try {
      while (slot->busy() && Clock::now() < deadline) {
        pollfd p{slot->socket(), POLLIN, 0};
        ::poll(&p, 1, 50);
        (void)slot->collect();  // anything won meanwhile goes with the session below
      }
      if (!slot->busy()) {
        // The notice goes out before the unlock (a block-mode waiter is granted the lock at once
        // and must not hold for us) and again after it (pollers that polled early try again).
        auto say = [&] {
          for (auto& [id, e] : entries)
            if (e.slot == slot && e.role == Role::resigning)
              store::notify(slot->conn(), store::kLeaderChannel,
                            store::notice_payload({id, e.epoch, "resigned", cfg.pod}));
        };
        say();
        slot->unlock(keys);
        say();
      }
    } catch (const std::exception& ex) {
      wa::log::warn("resign_unlock_failed").kv("session", slot->name()).kv("error", ex.what());
    }
  }
  for (auto& [id, e] : entries)
    if (e.role == Role::resigning) {
      metrics.leader(id).Set(0);
      clear_led(id);
      wa::log::info("resigned").kv("business_id", id).kv("epoch", e.epoch);
    }
  recorder.remove_member(std::chrono::milliseconds(1000));
  if (peers) peers->close_all();
  for (auto* s : slots()) s->close();
  store.close();
  publish();
}

}  // namespace wa::ha
