// A background thread woken by PostgreSQL NOTIFY: it LISTENs on one channel with a session of its
// own and runs a round of work on every notification and at least every `interval` (the sweep: a
// NOTIFY sent while the session was not listening is lost). A database error closes the session;
// the thread reconnects `interval` later, logging the outage once (<name>_db_error, then
// <name>_reconnected). stop() wakes the wait at once (an eventfd polled next to the socket).
// Shared by the outbox dispatcher (ha/outbox_dispatcher.h) and the pair-code responder
// (app/qr_pair_code_responder.h), which differ only in what a round does.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "store/pg.h"

namespace wa::ha {

struct NotifyWorkerOptions {
  std::string name;                          // log event prefix, e.g. "outbox_dispatcher"
  std::string application_name;              // of the worker's session, e.g. "waconnector/outbox"
  std::string channel;                       // LISTENed on every (re)connect
  std::chrono::milliseconds interval{1000};  // the sweep, and the reconnect delay after an error
  // Server-side limits of the session (libpq "options", e.g. "-c statement_timeout=5000"); empty: none.
  std::string session_options;
  // Also run a round as soon as the session listens (work queued while it was not listening is
  // served at once instead of at the first sweep).
  bool round_on_connect = false;
};

class NotifyWorker {
 public:
  // One round on the worker's thread with its session; `notified` is true when a NOTIFY woke it.
  // An exception counts as a database error. The round may check stopping() to end early.
  using Round = std::function<void(pg::Connection& conn, bool notified)>;

  // Starts the thread. `on_down` (optional) runs after each database error, before the delay.
  NotifyWorker(std::string database_url, NotifyWorkerOptions options, Round round,
               std::function<void()> on_down = {});
  ~NotifyWorker();  // stop()
  NotifyWorker(const NotifyWorker&) = delete;
  NotifyWorker& operator=(const NotifyWorker&) = delete;

  // Wakes and joins the thread (a round in progress finishes first). Idempotent.
  void stop();
  bool stopping() const { return stopping_.load(); }

 private:
  void run();
  pg::Connection open_session() const;

  std::string url_;
  NotifyWorkerOptions options_;
  Round round_;
  std::function<void()> on_down_;
  int wake_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace wa::ha
