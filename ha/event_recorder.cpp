#include "ha/event_recorder.h"

#include <fmt/format.h>

#include "common/log.h"
#include "ha/lock_session.h"
#include "store/accounts.h"
#include "store/members.h"

namespace wa::ha {
namespace {
constexpr std::size_t kMaxQueued = 256;
using Clock = std::chrono::steady_clock;
}  // namespace

pg::Connection open_store_session(const StoreSessionOptions& o, std::string_view role) {
  auto c = pg::Connection::open(
      o.database_url, fmt::format("{} session", role),
      {{"application_name", fmt::format("waconnector/{}/{}", o.pod, role)},
       {"connect_timeout", "3"},
       {"keepalives", "1"},
       {"keepalives_idle", "1"},
       {"keepalives_interval", "1"},
       {"keepalives_count", "3"},
       {"tcp_user_timeout", "3000"},
       {"options",
        fmt::format("-c statement_timeout={} -c lock_timeout={} -c idle_in_transaction_session_timeout={}",
                    o.statement_timeout_ms, o.lock_timeout_ms, o.idle_in_transaction_timeout_ms)}});
  return c;
}

EventRecorder::EventRecorder(StoreSessionOptions options, std::string version, prometheus::Counter* refused)
    : opt_(std::move(options)), version_(std::move(version)), refused_(refused), thread_([this] { run(); }) {}

EventRecorder::~EventRecorder() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

std::size_t EventRecorder::queued() const {
  std::lock_guard lk(mu_);
  return jobs_.size();
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

bool EventRecorder::ensure_session() {
  if (conn_.ok()) return true;
  if (Clock::now() < next_connect_) return false;
  try {
    conn_ = open_store_session(opt_, "store");
    return true;
  } catch (const std::exception& ex) {
    conn_.close();
    next_connect_ = Clock::now() + std::chrono::seconds(1);
    wa::log::warn("store_session_unavailable").kv("error", ex.what());
    return false;
  }
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
      cv_.wait_for(lk, std::chrono::milliseconds(200), [&] { return stop_; });
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
        lk.lock();
        registered_ = true;
      } catch (const std::exception& ex) {
        wa::log::warn("member_heartbeat_failed").kv("error", ex.what());
        if (!conn_.ok()) conn_.close();
        lk.lock();
      }
    }
    while (!jobs_.empty() && !stop_) {
      Job j = std::move(jobs_.front());
      jobs_.pop_front();
      lk.unlock();
      bool lost = false;
      try {
        j.run(conn_, j.late);
      } catch (const pg::Error& ex) {
        lost = ex.connection_lost() || !conn_.ok();
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
      if (lost) {
        conn_.close();
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
    busy_ = false;
    if (jobs_.empty()) idle_cv_.notify_all();
  }
}

}  // namespace wa::ha
