// Versioned schema migrations (store/migrations/NNNN_name.sql), embedded into the binary at build
// time. migrate() applies the pending ones, each in its own transaction, all serialised by a
// transaction-level advisory lock, so pods starting together don't race; applied versions are
// recorded in wa_schema_migrations(version, name, checksum, applied_at).
#pragma once

#include <string>
#include <vector>

#include "store/errors.h"
#include "store/pg.h"

namespace wa::store {

struct Migration {
  int version = 0;
  std::string name;      // e.g. "account_registry"
  std::string sql;
  std::string checksum;  // hex SHA-256 of sql
};

// The migrations compiled into this binary, ordered by version.
const std::vector<Migration>& embedded_migrations();
// The newest version this binary knows.
int latest_known_version();

// The two-int advisory lock key space (classid, objid) used to serialise migrations. Account locks
// use the one-bigint key space, which PostgreSQL keeps apart, so they can never collide with it.
inline constexpr int kMigrationLockClass = 0x57414331;  // "WAC1"
inline constexpr int kMigrationLockObject = 1;

struct MigrateResult {
  std::vector<Migration> applied;  // in order; empty when up to date
  int version = 0;                 // schema version afterwards
};

// Applies pending migrations. Throws SchemaError when the database is newer than this binary
// ("schema version N is newer than this binary (M); upgrade waconnector"), when an applied
// migration's checksum differs from the embedded one, or when it has a version this binary does
// not know. `conn` must not be inside a transaction. `migrations` is for tests.
MigrateResult migrate(pg::Connection& conn, const std::vector<Migration>& migrations = embedded_migrations());

// Highest applied version; 0 on an empty database.
int current_schema_version(pg::Connection& conn);
// Throws SchemaError unless the schema is exactly at latest_known_version() ("run waconnector
// migrate" / "upgrade waconnector").
void require_schema(pg::Connection& conn);

}  // namespace wa::store
