// One LISTEN session per pod for every notification channel the pod's workers wait on (issue 10:
// connections per pod must not grow with what runs in it). The hub's thread LISTENs each channel
// that has a subscriber and hands every notification to the channel's subscribers; after each
// (re)connect every subscriber is told (Notice::reconnected) that notifications may have been
// missed, so it sweeps. LISTEN needs a session of its own: through PgBouncer use a direct or
// session-mode URL (--lock-database-url), never transaction pooling.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "store/pg.h"

namespace wa::store {

struct NotifyHubOptions {
  std::string url;
  std::string application_name;  // "waconnector/<pod>/notify"
  std::chrono::milliseconds retry{1000};  // reconnect delay after an error
  std::string name = "notify_hub";        // log event prefix
};

struct Notice {
  std::string_view channel;
  std::string_view payload;
  bool reconnected = false;  // not a NOTIFY: the session (re)connected, sweep
};

class NotifyHub {
 public:
  // Runs on the hub's thread: must be quick (wake a worker, bump a counter).
  using Handler = std::function<void(const Notice&)>;

  // Unsubscribes when it ends.
  class Subscription {
   public:
    Subscription() = default;
    Subscription(NotifyHub* hub, std::uint64_t id) : hub_(hub), id_(id) {}
    Subscription(Subscription&& o) noexcept : hub_(std::exchange(o.hub_, nullptr)), id_(o.id_) {}
    Subscription& operator=(Subscription&& o) noexcept;
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;
    ~Subscription() { reset(); }
    void reset();

   private:
    NotifyHub* hub_ = nullptr;
    std::uint64_t id_ = 0;
  };

  explicit NotifyHub(NotifyHubOptions options);
  ~NotifyHub();  // stop()
  NotifyHub(const NotifyHub&) = delete;
  NotifyHub& operator=(const NotifyHub&) = delete;

  // The hub LISTENs `channel` from now on (within a moment: the hub's thread runs the LISTEN).
  [[nodiscard]] Subscription subscribe(std::string channel, Handler handler);
  void stop();  // joins the thread; idempotent
  bool connected() const { return connected_.load(); }
  std::int64_t notifications() const { return notifications_.load(); }

 private:
  void run();
  void unsubscribe(std::uint64_t id);
  void wake();
  void dispatch(const Notice& n, bool to_all);
  void drain(pg::Connection& conn);

  struct Sub {
    std::string channel;
    Handler handler;
  };
  NotifyHubOptions opt_;
  std::mutex mu_;  // subs_, wanted_
  std::map<std::uint64_t, Sub> subs_;
  std::uint64_t next_id_ = 1;
  std::set<std::string> wanted_;  // channels with a subscriber (LISTENed on the next loop turn)
  std::mutex dispatch_mu_;        // held while handlers run: unsubscribe waits for a running one
  int wake_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> connected_{false};
  std::atomic<std::int64_t> notifications_{0};
  std::thread thread_;
};

}  // namespace wa::store
