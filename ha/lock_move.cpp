#include "ha/lock_move.h"

#include <stdexcept>

#include "common/log.h"
#include "store/advisory_lock.h"

namespace wa::ha {

bool LockMoves::request(const std::string& business_id, std::int64_t new_key, std::function<void()> commit,
                        std::function<bool()> abandon) {
  if (std::this_thread::get_id() == loop_thread.load())
    throw std::logic_error("Elector::move_lock called from the elector's own thread");
  auto m = std::make_shared<Request>();
  m->business_id = business_id;
  m->new_key = new_key;
  m->commit = std::move(commit);
  auto fut = m->done.get_future();
  {
    std::lock_guard lk(mu_);
    if (closed_) return false;
    q_.push_back(m);
    wake_();
  }
  if (!abandon) return fut.get();
  while (fut.wait_for(std::chrono::milliseconds(20)) != std::future_status::ready)
    if (abandon()) return false;
  return fut.get();
}

std::vector<std::shared_ptr<LockMoves::Request>> LockMoves::take() {
  std::lock_guard lk(mu_);
  std::vector<std::shared_ptr<Request>> out;
  out.swap(q_);
  return out;
}

void LockMoves::put_back(std::shared_ptr<Request> r) {
  std::lock_guard lk(mu_);
  if (closed_) {
    r->done.set_value(false);
    return;
  }
  q_.push_back(std::move(r));
}

void LockMoves::close() {
  std::lock_guard lk(mu_);
  closed_ = true;
  for (auto& m : q_) m->done.set_value(false);
  q_.clear();
  wake_ = [] {};
}

bool LockMoves::perform(Request& m, AccountLease& e, LockSlot& s) {
  if (s.busy()) return false;
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
    auto r = s.conn().exec("take the account's new lock key", store::kTryOneLockSql, {m.new_key});
    if (!r.boolean(0, 0)) {
      wa::log::error("lock_move_refused")
          .kv("business_id", e.id())
          .kv("reason", "the new lock key is held by another session");
      m.done.set_value(false);
      return true;
    }
    s.held.insert(m.new_key);
    try {
      m.commit();
    } catch (...) {
      s.unlock({m.new_key});
      m.done.set_exception(std::current_exception());
      return true;
    }
    s.unlock({old_key});
    e.acc.lock_key = m.new_key;
    wa::log::info("lock_key_moved").kv("business_id", e.id()).kv("epoch", e.epoch);
    m.done.set_value(true);
  } catch (const pg::Error&) {
    try {
      m.done.set_value(false);
    } catch (const std::future_error&) {
      // already answered (the commit's own exception)
    }
    throw;
  }
  return true;
}

}  // namespace wa::ha
