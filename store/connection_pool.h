// A bounded set of PostgreSQL connections shared by everything in a pod that reads or writes the
// store (issue 10: connections per pod must not grow with accounts): every led account's device
// and message stores, the event recorder, the registry reads, the API handlers and the workers.
// At most `size` connections are open at once (idle + lent); a caller past that waits up to
// `acquire_timeout` and then gets a pg::Error (not a lost connection: the database is fine).
//
// A lent connection carries no state from its last user: statements are unnamed (no PREPARE),
// and the row-level-security setting is per transaction (pg::TenantScope, set_config(..., true)),
// so the pool works through a transaction-pooling proxy (PgBouncer pool_mode=transaction). A
// connection that broke (or was retired as read-only) is dropped and reopened on demand.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "store/pg.h"

namespace wa::store {

struct PoolOptions {
  std::string url;
  std::string application_name;  // "waconnector/<pod>/pool"
  std::size_t size = 4;          // max open connections (idle + lent)
  int connect_timeout_s = 3;
  // libpq "options" of every connection ("-c statement_timeout=..."); empty: none (the role's
  // settings apply, e.g. behind a PgBouncer that does not pass "options" on).
  std::string session_options;
  std::chrono::milliseconds acquire_timeout{5000};
  // Idle connections unused this long are closed (0: never), so a pool that served a burst shrinks.
  std::chrono::milliseconds idle_timeout{0};
  // Runs on every newly opened connection before it is lent (e.g. store::require_schema); an
  // exception closes it and reaches the caller.
  std::function<void(pg::Connection&)> on_open;
};

class ConnectionPool;

// A connection lent by a pool; given back when this ends (dropped if it broke).
class PooledConnection {
 public:
  PooledConnection(ConnectionPool& pool, pg::Connection c) : pool_(&pool), c_(std::move(c)) {}
  PooledConnection(PooledConnection&& o) noexcept : pool_(std::exchange(o.pool_, nullptr)), c_(std::move(o.c_)) {}
  PooledConnection& operator=(PooledConnection&&) = delete;
  PooledConnection(const PooledConnection&) = delete;
  ~PooledConnection();

  pg::Connection& conn() { return c_; }
  pg::Connection* operator->() { return &c_; }

 private:
  ConnectionPool* pool_;
  pg::Connection c_;
};

class ConnectionPool {
 public:
  explicit ConnectionPool(PoolOptions options);
  // The API's former shape: at most `size` connections, 2 s connect timeout, short statement limits.
  ConnectionPool(std::string url, std::string application_name, std::size_t size = 2);
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // Runs fn(pg::Connection&) on a lent connection and returns its result. Throws what fn, the
  // connect or the wait for a free connection throws.
  template <typename Fn>
  auto with(Fn&& fn) {
    auto c = acquire();
    return fn(c.conn());
  }

  PooledConnection acquire();

  // For store objects that keep a reference to a pg::Connection member: lend() moves a pooled
  // connection into `slot` (which must be closed), give_back() moves it out again (a broken one is
  // dropped). Every lend() needs exactly one give_back().
  void lend(pg::Connection& slot);
  void give_back(pg::Connection& slot);

  std::size_t size() const { return opt_.size; }
  std::size_t open_connections() const;
  std::size_t in_use() const;
  const PoolOptions& options() const { return opt_; }
  // Closes the idle connections (e.g. after a database switchover; tests).
  void close_idle();

 private:
  friend class PooledConnection;
  pg::Connection take();
  void put(pg::Connection c);
  pg::Connection open_one();
  void expire_idle_locked(std::vector<pg::Connection>& doomed);

  struct Idle {
    pg::Connection conn;
    std::chrono::steady_clock::time_point since;
  };
  // Drops `c` from the books (caller holds mu_); closes it when `doomed` ends.
  void forget_locked(const pg::Connection& c);
  bool current_locked(const pg::Connection& c) const;
  PoolOptions opt_;
  mutable std::mutex mu_;
  std::condition_variable freed_;
  std::vector<Idle> idle_;
  std::size_t open_ = 0;  // idle + lent + being opened
  // A connection retired as read-only (pg::Connection::retired) means every session opened up to
  // then may carry default_transaction_read_only: those are dropped as they come back or idle,
  // instead of each failing one write first.
  std::uint64_t generation_ = 0;
  std::map<const PGconn*, std::uint64_t> opened_in_;  // generation each open connection was opened in
};

}  // namespace wa::store
