// The ha layer's sessions to the store: bounded statements, lock waits and idle transactions,
// TCP keepalives, and an application_name that says which pod and role holds the session
// (waconnector/<pod>/<purpose>, counted by operators in pg_stat_activity). One place, so every
// such session has the same guards. The pod's store pool (make_store_pool) is where the led
// accounts' stores, the recorder, the registry reads, the API and the workers borrow connections.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "store/connection_pool.h"
#include "store/errors.h"
#include "store/pg.h"

namespace wa::ha {

struct StoreSessionOptions {
  std::string database_url;
  std::string pod;
  int statement_timeout_ms = 5000;
  int lock_timeout_ms = 2000;
  int idle_in_transaction_timeout_ms = 10000;
  // The pod's store pool (make_store_pool). Users that get none make a private pool of one
  // connection from the fields above (tools, tests).
  std::shared_ptr<store::ConnectionPool> pool;
};

// "waconnector/<pod>/<purpose>".
std::string application_name(std::string_view pod, std::string_view purpose);

// Opens a session named `waconnector/<pod>/<role>`; errors carry "<role> session" as context.
// Throws store::SchemaError when this binary may not run against the database's schema
// (store/migrator.h require_schema), on every reconnect.
pg::Connection open_store_session(const StoreSessionOptions& o, std::string_view role);

// The pod's store pool, `size` connections named waconnector/<pod>/<role> with the guards of
// open_store_session (statement/lock/idle-in-transaction limits, keepalives, the schema window
// checked on every connection it opens). `session_options` false: no libpq "options" (a PgBouncer
// that rejects the startup parameter; the role's settings then bound the statements).
std::shared_ptr<store::ConnectionPool> make_store_pool(const StoreSessionOptions& o, std::size_t size,
                                                       std::string_view role = "pool",
                                                       bool session_options = true);

// A reader that used to keep a session of its own (the elector's registry reads) on the pod's
// store pool: each with() borrows a connection for one call. ok() is what the session's ok()
// was: the last call reached the database (false after a connection failure until reopen()).
class PooledReads {
 public:
  PooledReads() = default;
  explicit PooledReads(std::shared_ptr<store::ConnectionPool> pool) : pool_(std::move(pool)) {}
  bool ok() const { return ok_; }
  void close() { ok_ = false; }
  // Borrows a connection and runs check(conn) (e.g. the schema window); ok() on success.
  template <class F>
  void reopen(F&& check) {
    ok_ = false;
    with(std::forward<F>(check));
    ok_ = true;
  }
  template <class F>
  auto with(F&& f) {
    try {
      return pool_->with(std::forward<F>(f));
    } catch (const pg::Error& e) {
      if (e.connection_lost()) ok_ = false;
      throw;
    } catch (const store::SchemaError&) {
      // A connection the pool opened is outside this binary's schema window (a contract
      // migration ran): the store is unusable until reopen() passes the check again.
      ok_ = false;
      throw;
    }
  }

 private:
  std::shared_ptr<store::ConnectionPool> pool_;
  bool ok_ = false;
};

// o.pool, or a private pool of one connection named waconnector/<pod>/<role>.
std::shared_ptr<store::ConnectionPool> pool_or_own(const StoreSessionOptions& o, std::string_view role);

}  // namespace wa::ha
