// Versioned schema migrations (store/migrations/NNNN_name.sql), embedded into the binary at build
// time. migrate() applies the pending ones, each in its own transaction, all serialised by a
// transaction-level advisory lock, so pods starting together don't race; applied versions are
// recorded in wa_schema_migrations(version, name, checksum, applied_at, requires_binary).
//
// Compatibility window (expand/contract). A migration is an EXPAND unless it says otherwise: it
// only adds (tables, nullable or defaulted columns, indexes) and binaries that predate it keep
// working. A CONTRACT migration (drop, rename, NOT NULL on a column old binaries do not write)
// starts with the line
//   -- compat: requires-binary NNNN
// naming the oldest binary schema that still works after it; the release rule (docs/operations.md,
// "Upgrades") is that NNNN is at most the previous release's last migration, so a binary always
// runs against its own schema AND the next release's. A binary accepts a database whose applied
// migrations beyond its own are all within that window; the floor is recorded in the database,
// because the old binary cannot know the newer migration's text.
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
  int requires_binary = 0;  // from "-- compat: requires-binary NNNN"; 0 = expand
};

// The NNNN of a "-- compat: requires-binary NNNN" line of `sql` (0 when absent). Throws SchemaError
// for a malformed one, so a typo cannot silently make a contract migration an expand one.
int parse_requires_binary(const std::string& sql, int version);

// The migrations compiled into this binary, ordered by version. For upgrade drills only: when
// WACONN_EXTRA_MIGRATIONS_DIR names a directory, its NNNN_name.sql files are added (a binary that
// plays "the next release"; logged as a warning).
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

// Applies pending migrations. A database already newer than this binary but inside the window is
// left alone (rollback: the old release's migrate step succeeds and changes nothing). Throws
// SchemaError when the database is newer than the window ("schema version N requires a binary
// with schema >= K; this binary has M: upgrade waconnector"), when an applied
// migration's checksum differs from the embedded one, or when it has a version this binary does
// not know. `conn` must not be inside a transaction. `migrations` is for tests.
MigrateResult migrate(pg::Connection& conn, const std::vector<Migration>& migrations = embedded_migrations());

// Highest applied version; 0 on an empty database.
int current_schema_version(pg::Connection& conn);
// Throws SchemaError unless this binary may run against the database: every embedded migration
// applied with its checksum ("run waconnector migrate"), and newer ones only within the window
// ("upgrade waconnector"). Called on every (re)connect of a session that reads or writes the
// store, not only at start: a database migrated past the window while a pod ran is refused at its
// next reconnect. Returns the database's schema version.
int require_schema(pg::Connection& conn);

}  // namespace wa::store
