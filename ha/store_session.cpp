#include "ha/store_session.h"

#include <fmt/format.h>

#include "store/migrator.h"

namespace wa::ha {
namespace {

std::string limits(const StoreSessionOptions& o) {
  return fmt::format("-c statement_timeout={} -c lock_timeout={} -c idle_in_transaction_session_timeout={}",
                     o.statement_timeout_ms, o.lock_timeout_ms, o.idle_in_transaction_timeout_ms);
}

// idle_session_timeout and client_connection_check_interval (lock sessions) are PostgreSQL 14; then
// the schema window, on every (re)connect, not only the first one at start: a database migrated
// past what this binary can run against is refused here, before any write.
void check_session(pg::Connection& c, std::string_view role) {
  if (const int v = PQserverVersion(c.raw()); v > 0 && v < 140000)
    throw pg::Error(
        fmt::format("{} session: PostgreSQL {}.{} is too old; waconnector needs PostgreSQL 14 or newer", role,
                    v / 10000, v % 10000),
        "0A000");
  store::require_schema(c);
}

}  // namespace

std::string application_name(std::string_view pod, std::string_view purpose) {
  return fmt::format("waconnector/{}/{}", pod, purpose);
}

pg::Connection open_store_session(const StoreSessionOptions& o, std::string_view role) {
  auto c = pg::Connection::open(o.database_url, fmt::format("{} session", role),
                                {{"application_name", application_name(o.pod, role)},
                                 {"connect_timeout", "3"},
                                 {"keepalives", "1"},
                                 {"keepalives_idle", "1"},
                                 {"keepalives_interval", "1"},
                                 {"keepalives_count", "3"},
                                 {"tcp_user_timeout", "3000"},
                                 {"options", limits(o)}});
  check_session(c, role);
  return c;
}

std::shared_ptr<store::ConnectionPool> make_store_pool(const StoreSessionOptions& o, std::size_t size,
                                                       std::string_view role, bool session_options) {
  store::PoolOptions p;
  p.url = o.database_url;
  p.application_name = application_name(o.pod, role);
  p.size = size;
  p.connect_timeout_s = 3;
  if (session_options) p.session_options = limits(o);
  // A led account waits for a connection at most this long; longer means the pool is too small
  // for the load (--store-pool-size), and the write fails like a slow statement would.
  p.acquire_timeout = std::chrono::milliseconds(o.statement_timeout_ms);
  p.idle_timeout = std::chrono::minutes(5);
  p.on_open = [r = std::string(role)](pg::Connection& c) { check_session(c, r); };
  return std::make_shared<store::ConnectionPool>(std::move(p));
}

std::shared_ptr<store::ConnectionPool> pool_or_own(const StoreSessionOptions& o, std::string_view role) {
  return o.pool ? o.pool : make_store_pool(o, 1, role);
}

}  // namespace wa::ha
