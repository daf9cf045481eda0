// Balanced leadership (poll mode): which accounts this pod tries now, which it only watches, the
// live set (pods holding their liveness lock), peer deaths seen by the peer waiters, and the
// graceful handover of accounts targeted at another pod. Part of the elector (elector_impl.h);
// the pure rules are in ha/balance.h.
#include "ha/balance.h"
#include "ha/elector_impl.h"
#include "store/members.h"

namespace wa::ha {

int Elector::Impl::leading_count() const {
  int n = 0;
  for (auto& [id, e] : entries) n += (leads(e.role) || (e.slot != nullptr && e.lease == nullptr)) ? 1 : 0;
  return n;
}

void Elector::Impl::refresh_live(bool fresh) {
  // Block mode reads it too, for /status and the metrics; it neither balances nor waits on peers.
  if (!store.ok()) return;
  std::vector<store::Member> members;
  try {
    members = store.with([](pg::Connection& c) { return store::list_live_members(c); });
  } catch (const std::exception& ex) {
    wa::log::warn("list_live_pods_failed").kv("error", ex.what());
    if (!store.ok()) store.close();
    return;
  }
  std::vector<std::string> pods;
  pod_load.clear();
  for (auto& m : members) {
    pods.push_back(m.pod);
    pod_load[m.pod] = m.leading;
  }
  if (watch->alive() && std::find(pods.begin(), pods.end(), cfg.pod) == pods.end()) pods.push_back(cfg.pod);
  std::sort(pods.begin(), pods.end());
  if (pods != live_pods) {
    auto line = wa::log::info("live_pods_changed");
    line.kv("pods", static_cast<std::int64_t>(pods.size()));
    std::string names;
    for (auto& p : pods) names += (names.empty() ? "" : ",") + p;
    line.kv("names", names);
  }
  live_pods = std::move(pods);
  retarget();
  std::vector<std::string> others;
  for (auto& p : live_pods)
    if (p != cfg.pod) others.push_back(p);
  if (peers) peers->sync(others, fresh);
}

void Elector::Impl::retarget() {
  std::vector<std::string> ids;
  for (auto& [id, e] : entries)
    if (e.listed && e.acc.status != "logged_out") ids.push_back(id);
  competing = static_cast<int>(ids.size());
  share = fair_share(competing, static_cast<int>(live_pods.size()), cfg.share_slack);
  const auto targets = assign_targets(ids, live_pods);
  targeted = 0;
  for (auto& [id, e] : entries) {
    auto it = targets.find(id);
    auto target = it == targets.end() ? std::string() : it->second;
    if (e.handed_over && target != e.target) {
      e.handed_over = false;
      e.compete_after = {};
    }
    e.target = std::move(target);
    targeted += e.target == cfg.pod ? 1 : 0;
  }
  metrics.live_pods.Set(static_cast<double>(live_pods.size()));
  metrics.fair_share.Set(share);
  metrics.accounts_targeted.Set(targeted);
}

void Elector::Impl::choose_keys(Clock::time_point now, LockSlot& slot, std::vector<std::int64_t>& tries,
                                std::vector<std::int64_t>& probes) {
  const bool bal = balancing();
  int room = share - leading_count();
  for (auto& [id, e] : entries) {
    if (!candidate(e) || slot.held.count(e.acc.lock_key)) continue;
    const auto k = e.acc.lock_key;
    if (!bal) {
      tries.push_back(k);
      continue;
    }
    const auto free_for = e.free_since == Clock::time_point{} ? Clock::duration::zero() : now - e.free_since;
    if (!e.yield && room > 0 && (e.target == cfg.pod || free_for >= cfg.takeover_grace)) {
      // Ours, or nobody's for a while and we have room.
      tries.push_back(k);
      --room;
    } else if (free_for >= 2 * cfg.takeover_grace) {
      // No leader at all, for longer: taken even over the share.
      tries.push_back(k);
    } else {
      probes.push_back(k);
    }
  }
  for (auto* v : {&tries, &probes}) {
    std::sort(v->begin(), v->end());
    v->erase(std::unique(v->begin(), v->end()), v->end());
  }
}

void Elector::Impl::observe(const LockSlot::Outcome& o, Clock::time_point now) {
  if (!balancing()) return;
  // One pass to index the accounts by key: a poll can carry thousands of keys.
  std::multimap<std::int64_t, AccountLease*> by_key;
  for (auto& [id, e] : entries) by_key.emplace(e.acc.lock_key, &e);
  auto each = [&](const std::vector<std::int64_t>& keys, auto f) {
    for (auto k : keys)
      for (auto [it, end] = by_key.equal_range(k); it != end; ++it) f(*it->second);
  };
  each(o.busy, [](AccountLease& e) {
    // Free before and held now: someone took it over, so a fenced pod stops yielding.
    if (e.free_since != Clock::time_point{}) e.yield = false;
    e.free_since = {};
  });
  each(o.won, [](AccountLease& e) {
    e.free_since = {};
    e.yield = false;
  });
  each(o.free, [&](AccountLease& e) {
    if (e.free_since == Clock::time_point{}) e.free_since = now;
    // Look again when it may become ours to take (grace, then twice the grace), if still free.
    for (auto at : {e.free_since + cfg.takeover_grace, e.free_since + 2 * cfg.takeover_grace})
      if (at > now) {
        next_poll = std::min(next_poll, at);
        break;
      }
  });
  if (now < burst_until) next_poll = std::min(next_poll, now + kBurstPoll);
}

void Elector::Impl::peer_gone(const std::string& pod) {
  auto it = std::find(live_pods.begin(), live_pods.end(), pod);
  wa::log::info("peer_gone")
      .kv("pod", pod)
      .kv("message", "its liveness session ended: re-targeting its accounts and trying the locks now");
  if (it == live_pods.end()) return;
  live_pods.erase(it);
  pod_load.erase(pod);
  retarget();
  const auto now = Clock::now();
  next_poll = now;
  burst_until = now + kBurstFor;
}

void Elector::Impl::rebalance(Clock::time_point now) {
  if (!balancing() || now < next_handover || stopping.load()) return;
  // Only a pod above ceil(accounts / live pods) gives accounts away: a pod at or under it keeps
  // what it has, so a rescale moves no more than it must (and a lone account never bounces
  // back to its preferred pod when that pod restarts).
  if (leading_count() <= share - cfg.share_slack) return;
  for (auto& [id, e] : entries) {
    // Only settled leases move: logged in (or leading without a transport), paired, not held.
    if (e.role != Role::active || e.holding || e.target.empty() || e.target == cfg.pod) continue;
    // An unpaired account's QR is on someone's screen: it stays until paired.
    const bool unpaired = !e.acc.jid || e.acc.jid->empty();
    if ((unpaired && sup.has_transport()) || e.slot == nullptr || !e.slot->valid() || e.slot->busy())
      continue;
    if (std::find(live_pods.begin(), live_pods.end(), e.target) == live_pods.end()) continue;
    // The target's last beat said it has room (stale by up to a member interval: its own share
    // check refuses the rest, and the account is then taken back after the grace).
    if (auto l = pod_load.find(e.target); l != pod_load.end() && l->second >= share) continue;
    next_handover = now + cfg.handover_interval;
    hand_over(e, e.target);
    return;
  }
}

// Like give_up(), without the backoff: stop, record, NOTIFY (before and after the unlock, as in
// resign_all) so the target polls at once and holds for nothing.
void Elector::Impl::hand_over(AccountLease& e, const std::string& to) {
  const std::string id = e.id();
  LockSlot* slot = e.slot;
  sup.release(id, core::DisconnectReason::instance_restart);
  guard->disarm(id);
  metrics.connected(id).Set(0);
  metrics.handovers.Increment();
  ++handovers;
  transition(e, Role::resigning, fmt::format("handover to pod {}", to));
  recorder.record(id, store::EventKind::resigned, e.epoch, ms_between(e.won_at, Clock::now()),
                  fmt::format("handover to pod {}", to));
  wa::log::info("account_handed_over")
      .kv("business_id", id)
      .kv("epoch", e.epoch)
      .kv("to", to)
      .kv("leading", static_cast<std::int64_t>(leading_count() - 1))
      .kv("fair_share", static_cast<std::int64_t>(share));
  notify_stopped(*slot, e);
  if (slot->valid()) unlock(*slot, {e.acc.lock_key});
  notify_stopped(*slot, e);
  clear_led(id);
  e.slot = nullptr;
  e.lease.reset();
  e.holding = false;
  e.free_since = {};
  e.compete_after = Clock::now() + kHandoverCooldown;
  e.handed_over = true;
  transition(e, Role::standby, "handed over");
}

}  // namespace wa::ha
