#include "store/migrator.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string_view>

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

Migration make_migration(int version, std::string name, std::string sql) {
  Migration m;
  m.version = version;
  m.name = std::move(name);
  m.sql = std::move(sql);
  m.checksum = sha256_hex(m.sql);
  m.requires_binary = parse_requires_binary(m.sql, m.version);
  return m;
}

// NNNN_name.sql files of an upgrade drill's extra directory.
void add_extra(std::vector<Migration>& out, const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const auto& ent : fs::directory_iterator(dir, ec)) {
    const std::string f = ent.path().filename().string();
    if (f.size() < 10 || f.substr(f.size() - 4) != ".sql" || f[4] != '_' ||
        f.find_first_not_of("0123456789") != 4)
      continue;
    std::ifstream in(ent.path(), std::ios::binary);
    std::stringstream body;
    body << in.rdbuf();
    out.push_back(make_migration(std::stoi(f.substr(0, 4)), f.substr(5, f.size() - 9), body.str()));
    log::warn("extra_migration_loaded")
        .kv("version", out.back().version)
        .kv("name", out.back().name)
        .kv("message", "WACONN_EXTRA_MIGRATIONS_DIR is for upgrade drills only");
  }
  if (ec) throw StoreError(fmt::format("WACONN_EXTRA_MIGRATIONS_DIR {}: {}", dir, ec.message()));
}

std::vector<Migration> load_embedded() {
  std::vector<Migration> out;
  for (std::size_t i = 0; i < detail::kEmbeddedMigrationCount; ++i) {
    const auto& e = detail::kEmbeddedMigrations[i];
    out.push_back(make_migration(e.version, e.name, std::string(reinterpret_cast<const char*>(e.data), e.size)));
  }
  if (const char* dir = std::getenv("WACONN_EXTRA_MIGRATIONS_DIR"); dir != nullptr && *dir != '\0')
    add_extra(out, dir);
  std::sort(out.begin(), out.end(), [](const Migration& a, const Migration& b) { return a.version < b.version; });
  return out;
}

struct Applied {
  std::string name;
  std::string checksum;
  int requires_binary = 0;
};

bool table_exists(pg::Connection& conn) {
  auto r = conn.exec("look for the schema migrations table",
                     "SELECT to_regclass('wa_schema_migrations') IS NOT NULL");
  return r.rows() == 1 && r.boolean(0, 0);
}

std::map<int, Applied> read_applied(pg::Connection& conn) {
  std::map<int, Applied> out;
  // Through to_jsonb: a table created by a binary older than the requires_binary column reads as 0.
  auto r = conn.exec("read applied migrations",
                     "SELECT version, name, checksum, coalesce((to_jsonb(m) ->> 'requires_binary')::int, 0)"
                     " FROM wa_schema_migrations m");
  for (int i = 0; i < r.rows(); ++i)
    out[static_cast<int>(r.i64(i, 0))] =
        Applied{std::string(r.text(i, 1)), std::string(r.text(i, 2)), static_cast<int>(r.i64(i, 3))};
  return out;
}

int max_known(const std::vector<Migration>& ms) { return ms.empty() ? 0 : ms.back().version; }

// Refuses a database this binary must not touch: newer than the compatibility window, unknown
// migrations inside its own range, or changed ones.
void validate(const std::map<int, Applied>& applied, const std::vector<Migration>& known) {
  const int latest = max_known(known);
  int floor = 0, floor_version = 0;
  for (const auto& [version, a] : applied)
    if (a.requires_binary > floor) {
      floor = a.requires_binary;
      floor_version = version;
    }
  if (floor > latest)
    throw SchemaError(fmt::format(
        "schema version {} is newer than this binary ({}) and outside its compatibility window: migration {} "
        "requires a binary with schema >= {}; upgrade waconnector",
        applied.rbegin()->first, latest, floor_version, floor));
  for (const auto& [version, a] : applied) {
    auto it = std::find_if(known.begin(), known.end(), [v = version](const Migration& m) { return m.version == v; });
    if (it == known.end()) {
      if (version > latest) continue;  // the next release's expand migration: inside the window
      throw SchemaError(fmt::format("database has migration {} ({}) that this binary does not know; "
                                    "use the waconnector build that applied it",
                                    version, a.name));
    }
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

int parse_requires_binary(const std::string& sql, int version) {
  static constexpr std::string_view kTag = "-- compat: requires-binary";
  std::size_t at = 0;
  while (at < sql.size()) {
    const auto eol = std::min(sql.find('\n', at), sql.size());
    const std::string_view line(sql.data() + at, eol - at);
    if (line.rfind(kTag, 0) == 0) {
      auto rest = line.substr(kTag.size());
      while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
      while (!rest.empty() && (rest.back() == ' ' || rest.back() == '\r')) rest.remove_suffix(1);
      int n = 0;
      const auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), n);
      if (ec != std::errc() || p != rest.data() + rest.size() || n <= 0 || n >= version)
        throw SchemaError(fmt::format("migration {}: '{}' must name an earlier schema version (1..{})", version,
                                      std::string(line), version - 1));
      return n;
    }
    at = eol + 1;
  }
  return 0;
}

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
    // The compatibility floor of each migration (0 = expand); binaries older than this column
    // insert without it and read past it.
    conn.exec_simple("add the compatibility floor column",
                     "ALTER TABLE wa_schema_migrations ADD COLUMN IF NOT EXISTS requires_binary INTEGER NOT NULL DEFAULT 0");
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
              "INSERT INTO wa_schema_migrations (version, name, checksum, requires_binary)"
              " VALUES ($1::int, $2, $3, $4::int)",
              {next->version, next->name, next->checksum, next->requires_binary});
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

int require_schema(pg::Connection& conn) {
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
  return current;
}

}  // namespace wa::store
