#include "ha/store_session.h"

#include <fmt/format.h>

#include "store/migrator.h"

namespace wa::ha {

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
  // idle_session_timeout and client_connection_check_interval (lock sessions) are PostgreSQL 14.
  if (const int v = PQserverVersion(c.raw()); v > 0 && v < 140000)
    throw pg::Error(
        fmt::format("{} session: PostgreSQL {}.{} is too old; waconnector needs PostgreSQL 14 or newer", role,
                    v / 10000, v % 10000),
        "0A000");
  // Every (re)connect checks the schema window, not only the first one at start: a database
  // migrated past what this binary can run against is refused here, before any write.
  store::require_schema(c);
  return c;
}

pg::Connection open_worker_session(const std::string& database_url, std::string_view purpose,
                                   const std::string& application_name) {
  return pg::Connection::open(
      database_url, purpose,
      {{"application_name", application_name},
       {"connect_timeout", "5"},
       {"keepalives", "1"},
       {"keepalives_idle", "1"},
       {"keepalives_interval", "1"},
       {"keepalives_count", "3"},
       {"options",
        "-c statement_timeout=5000 -c lock_timeout=2000 -c idle_in_transaction_session_timeout=5000"}});
}

}  // namespace wa::ha
