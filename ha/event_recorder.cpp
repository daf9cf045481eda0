#include "ha/event_recorder.h"

#include <algorithm>

#include <fmt/format.h>

#include "common/log.h"
#include "ha/lock_session.h"
#include "store/accounts.h"
#include "store/errors.h"
#include "store/members.h"

namespace wa::ha {
namespace {
constexpr std::size_t kMaxQueued = 256;
using Clock = std::chrono::steady_clock;
}  // namespace

EventRecorder::EventRecorder(StoreSessionOptions options, std::string version, prometheus::Counter* refused)
    : opt_(std::move(options)),
      pool_(pool_or_own(opt_, "store")),
      version_(std::move(version)),
      refused_(refused),
      thread_([this] { run(); }) {}

EventRecorder::~EventRecorder() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  release_session();
  // What could not be written by now (the database down or read-only until the end) is handed
  // to the log, one line each, so the history has no silent hole.
  for (const auto& j : jobs_)
    if (j.retry)
      wa::log::error("ha_event_not_recorded")
          .kv("business_id", j.business_id)
          .kv("what", j.what)
          .kv("epoch", j.epoch)
          .kv("message", "the database did not accept it before exit: this log line is its only record");
}

std::size_t EventRecorder::queued() const {
  std::lock_guard lk(mu_);
  return jobs_.size();
}

bool EventRecorder::writable() const {
  std::lock_guard lk(mu_);
  return writable_;
}

void EventRecorder::push(Job j) {
  {
    std::lock_guard lk(mu_);
    if (jobs_.size() >= kMaxQueued) {
      jobs_.pop_front();
      ++dropped_;
    }
    jobs_.push_back(std::move(j));
  }
  cv_.notify_all();
}

void EventRecorder::record(const std::string& business_id, store::EventKind kind, std::int64_t epoch,
                           std::optional<std::int64_t> duration_ms, std::string details) {
  const auto at = std::chrono::system_clock::now();
  Job j;
  j.what = fmt::format("record {}", store::to_string(kind));
  j.business_id = business_id;
  j.epoch = epoch;
  j.retry = true;
  j.run = [this, business_id, kind, epoch, duration_ms, details = std::move(details), at](pg::Connection& c,
                                                                                          bool late) {
    std::string d = details;
    // Written late (the database was away): the details keep the original time.
    if (late)
      d += fmt::format(" (recorded late: happened at unix_ms={})",
                       std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count());
    store::record_event(c, business_id, opt_.pod, kind, epoch, duration_ms, d);
    if (late)
      wa::log::info("ha_event_recorded_late")
          .kv("business_id", business_id)
          .kv("kind", store::to_string(kind));
  };
  push(std::move(j));
}

void EventRecorder::member_beat(int leading, int backend_pid) {
  {
    std::lock_guard lk(mu_);
    beat_ = std::make_pair(leading, backend_pid);
  }
  cv_.notify_all();
}

void EventRecorder::set_disconnected(const std::string& business_id, std::int64_t epoch, std::string reason,
                                     std::string details, std::string status, bool zero_health) {
  Job j;
  j.what = fmt::format("record status {}", status);
  j.business_id = business_id;
  j.run = [this, business_id, epoch, reason, details, status, zero_health](pg::Connection& c, bool) {
    store::set_disconnected(c, business_id, epoch, reason, details, status, refused_);
    if (zero_health) store::set_health_score(c, business_id, epoch, 0, refused_);
  };
  push(std::move(j));
}

void EventRecorder::mark_fenced(const std::string& business_id, std::int64_t epoch, std::string details) {
  Job j;
  j.what = "record status disconnected (fenced)";
  j.business_id = business_id;
  j.epoch = epoch;
  j.retry = true;
  j.run = [business_id, epoch, details = std::move(details)](pg::Connection& c, bool) {
    try {
      store::set_disconnected(c, business_id, epoch, "lock_lost", details.substr(0, 1000), "disconnected",
                              nullptr);
    } catch (const store::EpochMoved&) {
      // A newer lease began: its leader owns the row now.
    }
  };
  push(std::move(j));
}

void EventRecorder::touch_activity(std::shared_ptr<ActivityBatch> batch) {
  Job j;
  j.what = "record activity";
  // Taken when the job runs (the latest stamps); a failed write puts them back.
  j.run = [batch = std::move(batch)](pg::Connection& c, bool) {
    const auto stamps = batch->take();
    try {
      store::touch_activity_batch(c, stamps);
    } catch (...) {
      batch->restore(stamps);
      throw;
    }
  };
  push(std::move(j));
}

bool EventRecorder::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  return idle_cv_.wait_for(lk, timeout, [&] { return jobs_.empty() && !busy_; });
}

void EventRecorder::remove_member(std::chrono::milliseconds timeout) {
  Job j;
  j.what = "remove member";
  j.run = [this](pg::Connection& c, bool) {
    std::lock_guard lk(mu_);
    if (registered_) store::remove_member(c, opt_.pod);
    beat_.reset();
  };
  push(std::move(j));
  flush(timeout);
}

void EventRecorder::retry_now() {
  {
    std::lock_guard lk(mu_);
    retry_now_ = true;
  }
  cv_.notify_all();
}

bool EventRecorder::ensure_session() {
  if (conn_.ok()) return true;
  {
    std::lock_guard lk(mu_);
    if (Clock::now() < next_connect_ && !retry_now_) return false;
    retry_now_ = false;
  }
  try {
    // A connection of the pod's store pool for this round of writes (give_back() at its end).
    release_session();
    pool_->lend(conn_);
    wrote_since_open_ = false;
    return true;
  } catch (const std::exception& ex) {
    const auto delay = retry_.next(ex.what());
    next_connect_ = Clock::now() + delay;
    wa::log::warn("store_session_unavailable")
        .kv("error", ex.what())
        .kv("retry_in_ms", static_cast<std::int64_t>(delay.count()));
    return false;
  }
}

void EventRecorder::release_session() {
  if (conn_.valid()) pool_->give_back(conn_);
}

void EventRecorder::session_lost(const std::string& error) {
  // A session that wrote before it was lost retries fast; one that fails its first write (a
  // read-only database) backs off, so sessions are not opened and closed in a tight loop.
  if (wrote_since_open_) retry_.reset();
  release_session();  // the pool drops a broken one
  next_connect_ = Clock::now() + retry_.next(error);
}

void EventRecorder::run() {
  std::unique_lock lk(mu_);
  while (true) {
    cv_.wait_for(lk, std::chrono::milliseconds(500), [&] { return stop_ || !jobs_.empty() || beat_; });
    if (stop_) return;
    if (jobs_.empty() && !beat_) {
      idle_cv_.notify_all();
      continue;
    }
    busy_ = true;
    lk.unlock();
    const bool up = ensure_session();
    lk.lock();
    if (!up) {
      // Nothing can be written now: drop what need not survive, keep events for later.
      for (auto it = jobs_.begin(); it != jobs_.end();) {
        if (!it->retry) {
          it = jobs_.erase(it);
          continue;
        }
        if (!it->late)
          wa::log::warn("ha_event_queued")
              .kv("business_id", it->business_id)
              .kv("what", it->what)
              .kv("queued", static_cast<std::int64_t>(jobs_.size()));
        it->late = true;
        ++it;
      }
      busy_ = false;
      idle_cv_.notify_all();
      const auto until = std::clamp<Clock::duration>(
          next_connect_ - Clock::now(), std::chrono::milliseconds(1), std::chrono::milliseconds(200));
      cv_.wait_for(lk, until, [&] { return stop_ || retry_now_; });
      continue;
    }
    if (beat_) {
      const auto [leading, pid] = *beat_;
      beat_.reset();
      const bool reg = registered_;
      lk.unlock();
      try {
        if (!reg) store::register_member(conn_, opt_.pod, version_, pid);
        store::heartbeat_member(conn_, opt_.pod, version_, leading, pid);
        wrote_since_open_ = true;
        retry_.reset();
        lk.lock();
        registered_ = true;
        writable_ = true;
      } catch (const std::exception& ex) {
        wa::log::warn("member_heartbeat_failed").kv("error", ex.what());
        if (!conn_.ok()) session_lost(ex.what());
        lk.lock();
        if (DbRetry::read_only(ex.what())) writable_ = false;
      }
    }
    // The beat lost the connection: the jobs wait for the next round (run on no connection, each
    // would fail as "no database connection" and push the reconnect back further).
    while (!jobs_.empty() && !stop_ && conn_.valid()) {
      Job j = std::move(jobs_.front());
      jobs_.pop_front();
      lk.unlock();
      bool lost = false;
      std::string error;
      try {
        j.run(conn_, j.late);
        wrote_since_open_ = true;
        retry_.reset();
      } catch (const pg::Error& ex) {
        lost = ex.connection_lost() || !conn_.ok();
        error = ex.what();
        wa::log::warn("ha_store_write_failed")
            .kv("business_id", j.business_id)
            .kv("what", j.what)
            .kv("error", ex.what());
      } catch (const std::exception& ex) {
        wa::log::warn("ha_store_write_failed")
            .kv("business_id", j.business_id)
            .kv("what", j.what)
            .kv("error", ex.what());
      }
      lk.lock();
      if (!error.empty() || !lost) writable_ = !DbRetry::read_only(error);
      if (lost) {
        lk.unlock();
        session_lost(error);
        lk.lock();
        if (j.retry) {
          if (!j.late)
            wa::log::warn("ha_event_queued")
                .kv("business_id", j.business_id)
                .kv("what", j.what)
                .kv("queued", static_cast<std::int64_t>(jobs_.size() + 1));
          j.late = true;
          jobs_.push_front(std::move(j));
        }
        break;
      }
    }
    // Between rounds the recorder holds no connection of the pool.
    lk.unlock();
    release_session();
    lk.lock();
    busy_ = false;
    if (jobs_.empty()) idle_cv_.notify_all();
  }
}

}  // namespace wa::ha
