#include "store/migrator.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <openssl/evp.h>

#include "common/log.h"
#include "store/migrations_embedded.h"

namespace wa::store {

namespace {

std::string sha256_hex(const std::string& s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(s.data(), s.size(), md, &n, EVP_sha256(), nullptr) != 1)
    throw StoreError("cannot compute a migration checksum (OpenSSL SHA-256 failed)");
  std::string out;
  out.reserve(n * 2);
  for (unsigned int i = 0; i < n; ++i) out += fmt::format("{:02x}", md[i]);
  return out;
}

std::vector<Migration> load_embedded() {
  std::vector<Migration> out;
  for (std::size_t i = 0; i < detail::kEmbeddedMigrationCount; ++i) {
    const auto& e = detail::kEmbeddedMigrations[i];
    Migration m;
    m.version = e.version;
    m.name = e.name;
    m.sql.assign(reinterpret_cast<const char*>(e.data), e.size);
    m.checksum = sha256_hex(m.sql);
    out.push_back(std::move(m));
  }
  std::sort(out.begin(), out.end(), [](const Migration& a, const Migration& b) { return a.version < b.version; });
  return out;
}

struct Applied {
  std::string name;
  std::string checksum;
};

bool table_exists(pg::Connection& conn) {
  auto r = conn.exec("look for the schema migrations table",
                     "SELECT to_regclass('wa_schema_migrations') IS NOT NULL");
  return r.rows() == 1 && r.boolean(0, 0);
}

std::map<int, Applied> read_applied(pg::Connection& conn) {
  std::map<int, Applied> out;
  auto r = conn.exec("read applied migrations", "SELECT version, name, checksum FROM wa_schema_migrations");
  for (int i = 0; i < r.rows(); ++i)
    out[static_cast<int>(r.i64(i, 0))] = Applied{std::string(r.text(i, 1)), std::string(r.text(i, 2))};
  return out;
}

int max_known(const std::vector<Migration>& ms) { return ms.empty() ? 0 : ms.back().version; }

// Refuses a database this binary must not touch: newer schema, unknown or changed migrations.
void validate(const std::map<int, Applied>& applied, const std::vector<Migration>& known) {
  const int latest = max_known(known);
  if (!applied.empty() && applied.rbegin()->first > latest)
    throw SchemaError(fmt::format("schema version {} is newer than this binary ({}); upgrade waconnector",
                                  applied.rbegin()->first, latest));
  for (const auto& [version, a] : applied) {
    auto it = std::find_if(known.begin(), known.end(), [v = version](const Migration& m) { return m.version == v; });
    if (it == known.end())
      throw SchemaError(fmt::format("database has migration {} ({}) that this binary does not know; "
                                    "use the waconnector build that applied it",
                                    version, a.name));
    if (it->checksum != a.checksum)
      throw SchemaError(fmt::format("migration {} ({}) was changed after it was applied: database checksum {}, "
                                    "binary checksum {}; applied migrations must never be edited",
                                    version, it->name, a.checksum.substr(0, 12), it->checksum.substr(0, 12)));
  }
}

}  // namespace

const std::vector<Migration>& embedded_migrations() {
  static const std::vector<Migration> ms = load_embedded();
  return ms;
}

int latest_known_version() { return max_known(embedded_migrations()); }

MigrateResult migrate(pg::Connection& conn, const std::vector<Migration>& migrations_in) {
  std::vector<Migration> migrations = migrations_in;
  std::sort(migrations.begin(), migrations.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  MigrateResult result;
  // One migration per transaction; every transaction starts by taking the migration lock, then
  // re-reads what is applied, so a pod that waited sees what the others did meanwhile.
  for (;;) {
    pg::Transaction tx(conn, "apply migrations");
    conn.exec("take the migration lock", "SELECT pg_advisory_xact_lock($1::int, $2::int)",
              {kMigrationLockClass, kMigrationLockObject});
    // Quiet about "already exists" notices: they are expected on every run but the first.
    conn.exec_simple("silence notices", "SET LOCAL client_min_messages = warning");
    conn.exec_simple("create the schema migrations table",
                     "CREATE TABLE IF NOT EXISTS wa_schema_migrations ("
                     " version INTEGER PRIMARY KEY,"
                     " name TEXT NOT NULL,"
                     " checksum TEXT NOT NULL,"
                     " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())");
    const auto applied = read_applied(conn);
    validate(applied, migrations);
    const Migration* next = nullptr;
    for (const auto& m : migrations) {
      if (!applied.count(m.version)) {
        next = &m;
        break;
      }
    }
    if (next == nullptr) {
      tx.commit();
      result.version = applied.empty() ? 0 : applied.rbegin()->first;
      return result;
    }
    const std::string purpose = fmt::format("apply migration {:04d}_{}", next->version, next->name);
    conn.exec_simple(purpose, next->sql.c_str());
    conn.exec("record migration " + std::to_string(next->version),
              "INSERT INTO wa_schema_migrations (version, name, checksum) VALUES ($1::int, $2, $3)",
              {next->version, next->name, next->checksum});
    tx.commit();
    log::info("migration_applied").kv("version", next->version).kv("name", next->name);
    result.applied.push_back(*next);
  }
}

int current_schema_version(pg::Connection& conn) {
  if (!table_exists(conn)) return 0;
  auto r = conn.exec("read schema version", "SELECT coalesce(max(version), 0) FROM wa_schema_migrations");
  return static_cast<int>(r.i64(0, 0));
}

void require_schema(pg::Connection& conn) {
  const int latest = latest_known_version();
  if (!table_exists(conn))
    throw SchemaError(fmt::format("the database has no waconnector schema; run 'waconnector migrate' "
                                  "(this binary needs schema version {})",
                                  latest));
  const auto applied = read_applied(conn);
  validate(applied, embedded_migrations());
  const int current = applied.empty() ? 0 : applied.rbegin()->first;
  std::vector<int> missing;
  for (const auto& m : embedded_migrations())
    if (!applied.count(m.version)) missing.push_back(m.version);
  if (!missing.empty())
    throw SchemaError(fmt::format("schema version {} is older than this binary ({}): migrations {} are missing; "
                                  "run 'waconnector migrate'",
                                  current, latest, fmt::join(missing, ", ")));
}

}  // namespace wa::store
