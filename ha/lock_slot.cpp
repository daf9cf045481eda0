#include "ha/lock_slot.h"

#include <fmt/format.h>

#include "ha/heartbeat.h"
#include "ha/session_watch.h"
#include "store/advisory_lock.h"

namespace wa::ha {

void LockSlot::open(const SessionSettings& s) {
  close();
  ls_ = LockSession::open(s);
  opened_at = Clock::now();
  op_ = Op::none;
  held.clear();
  watch_.watch(watch_id_, ls_.socket());
}

void LockSlot::close() {
  watch_.unwatch(watch_id_);
  ls_.close();
  op_ = Op::none;
  held.clear();
}

void LockSlot::send_heartbeat(std::string_view purpose) {
  ls_.send(purpose, store::kHeartbeatSql);
  op_ = Op::heartbeat;
}

void LockSlot::send_try(std::vector<std::int64_t> keys, const std::vector<std::int64_t>& probes) {
  if (probes.empty())
    ls_.send("try the advisory locks of standby accounts", store::kTryLocksSql, {store::key_array(keys)});
  else
    ls_.send("try the advisory locks of standby accounts", store::kTryAndProbeSql,
             {store::key_array(keys), store::key_array(probes)});
  op_ = Op::try_lock;
  op_keys_ = std::move(keys);
}

void LockSlot::send_wait(std::int64_t key, const std::string& account) {
  ls_.send(fmt::format("wait for the lock of {}", account), store::kWaitLockSql, {key});
  op_ = Op::wait_lock;
  op_keys_ = {key};
  op_account_ = account;
}

void LockSlot::send_begin_lease(const std::string& account, const std::string& pod, std::int64_t key) {
  const auto st = store::begin_lease_statement(account, pod, key);
  ls_.send(fmt::format("begin lease of business {}", account), st.sql, st.params);
  op_ = Op::begin_lease;
  op_account_ = account;
  op_pod_ = pod;
  op_keys_ = {key};
}

void LockSlot::send_alive_check(const std::string& account, const std::string& pod, std::int64_t epoch) {
  ls_.send(fmt::format("is pod {} (previous leader of {}) still acting", pod, account),
           store::kPreviousLeaderActiveSql, {store::kLivenessLockClass, pod, account, epoch});
  op_ = Op::alive_check;
  op_account_ = account;
}

void LockSlot::unlock(const std::vector<std::int64_t>& keys) {
  ls_.conn().exec("release advisory locks", store::kUnlockSql, {store::key_array(keys)});
  for (auto k : keys) held.erase(k);
}

std::optional<LockSlot::Outcome> LockSlot::collect() {
  std::optional<pg::Result> r;
  try {
    r = ls_.collect();
  } catch (...) {
    // op() keeps naming the failed statement for the caller; the next send resets it.
    throw;
  }
  if (!r) return std::nullopt;
  Outcome o;
  o.op = op_;
  o.sent = ls_.sent_at();
  o.account = op_account_;
  op_ = Op::none;
  switch (o.op) {
    case Op::heartbeat: {
      o.missing = missing_keys(held, store::held_keys(*r));
      o.identity_changed = !(store::session_identity(*r) == ls_.identity());
      break;
    }
    case Op::try_lock:
      for (int i = 0; i < r->rows(); ++i) {
        if (r->cols() > 3 && !r->boolean(i, 2))
          (r->boolean(i, 3) ? o.free : o.busy).push_back(r->i64(i, 0));
        else
          (r->boolean(i, 1) ? o.won : o.busy).push_back(r->i64(i, 0));
      }
      break;
    case Op::wait_lock: o.won = op_keys_; break;
    case Op::begin_lease: o.lease = store::lease_from(*r, op_pod_); break;
    case Op::alive_check: o.alive = r->rows() > 0 && r->boolean(0, 0); break;
    case Op::none: break;
  }
  for (auto k : o.won) held.insert(k);
  return o;
}

}  // namespace wa::ha
