#include "ha/notify_worker.h"

#include <exception>
#include <utility>

#include "common/log.h"

namespace wa::ha {

NotifyWorker::NotifyWorker(store::NotifyHub& hub, std::shared_ptr<store::ConnectionPool> pool,
                           NotifyWorkerOptions options, Round round, std::function<void()> on_down)
    : pool_(std::move(pool)), options_(std::move(options)), round_(std::move(round)), on_down_(std::move(on_down)) {
  sweep_now_ = options_.round_on_connect;
  sub_ = hub.subscribe(options_.channel, [this](const store::Notice& n) {
    {
      std::lock_guard lk(mu_);
      if (n.reconnected)
        sweep_now_ = sweep_now_ || options_.round_on_connect;
      else
        notified_ = true;
    }
    cv_.notify_all();
  });
  thread_ = std::thread([this] { run(); });
}

NotifyWorker::~NotifyWorker() { stop(); }

void NotifyWorker::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_.store(true);
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  sub_.reset();
}

void NotifyWorker::wake() {
  {
    std::lock_guard lk(mu_);
    notified_ = true;
  }
  cv_.notify_all();
}

bool NotifyWorker::sleep_for(std::chrono::milliseconds d) {
  std::unique_lock lk(mu_);
  return !cv_.wait_for(lk, d, [&] { return stopping_.load(); });
}

void NotifyWorker::run() {
  bool down = false;
  while (!stopping_.load()) {
    bool notified = false;
    {
      std::unique_lock lk(mu_);
      const auto ready = [&] { return stopping_.load() || notified_ || sweep_now_; };
      cv_.wait_for(lk, options_.interval, ready);
      if (stopping_.load()) break;
      notified = notified_;
      notified_ = false;
      sweep_now_ = false;
    }
    try {
      round_(*pool_, notified);
      if (down) log::info(options_.name + "_reconnected");
      down = false;
    } catch (const std::exception& e) {
      if (!down) log::warn(options_.name + "_db_error").kv("error", e.what());
      down = true;
      if (stopping_.load()) break;
      if (on_down_) on_down_();
      sleep_for(options_.interval);
    }
  }
}

}  // namespace wa::ha
