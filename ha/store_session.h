// The ha layer's bookkeeping sessions to the store (event recorder, leased device store): bounded
// statements, lock waits and idle transactions, TCP keepalives, and an application_name that says
// which pod and role holds the session. One place, so every such session has the same guards.
#pragma once

#include <string>
#include <string_view>

#include "store/pg.h"

namespace wa::ha {

struct StoreSessionOptions {
  std::string database_url;
  std::string pod;
  int statement_timeout_ms = 5000;
  int lock_timeout_ms = 2000;
  int idle_in_transaction_timeout_ms = 10000;
};

// Opens a session named `waconnector/<pod>/<role>`; errors carry "<role> session" as context.
// Throws store::SchemaError when this binary may not run against the database's schema
// (store/migrator.h require_schema), on every reconnect.
pg::Connection open_store_session(const StoreSessionOptions& o, std::string_view role);

// A background worker's session (webhook sender, logout responder, event listener): keepalives of
// 1 s x 3 and bounded statements, lock waits and open transactions. A worker's fenced write holds
// the account row FOR SHARE; a pod stopped inside one (SIGSTOP, a VM pause) must not keep the next
// leader's begin_lease waiting past the server release.
pg::Connection open_worker_session(const std::string& database_url, std::string_view purpose,
                                   const std::string& application_name);

}  // namespace wa::ha
