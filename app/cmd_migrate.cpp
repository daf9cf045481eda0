// waconnector migrate: applies the embedded schema migrations. Safe to run from many pods at once
// (the migrator serialises them with an advisory lock).
#include <iostream>

#include <fmt/format.h>

#include "app/commands.h"
#include "app/flags.h"
#include "store/accounts.h"
#include "store/migrator.h"
#include "store/pg.h"

namespace wa::app {

int cmd_migrate(int argc, char** argv) {
  Flags flags("waconnector migrate",
              "Apply the pending database migrations (each in its own transaction; concurrent runs wait for "
              "each other). Refuses a schema newer than this binary.",
              {
                  {"database-url", "DATABASE_URL", "PostgreSQL URL or conninfo", "", false, true},
                  {"lock-keys", "WACONN_LOCK_KEYS",
                   "advisory lock key mode of the cluster: hashtext (32-bit) or hashtextextended (64-bit); stored "
                   "on first use, later runs must agree",
                   "hashtext"},
              });
  if (!flags.parse(argc, argv)) return 0;
  const auto url = flags.str("database-url");
  if (auto e = pg::validate_conninfo(url); !e.empty()) throw ConfigError("--database-url: " + e);
  const auto mode = store::parse_lock_key_mode(flags.str("lock-keys"));
  if (!mode)
    throw ConfigError(fmt::format("--lock-keys: '{}' is not hashtext or hashtextextended", flags.str("lock-keys")));

  pg::Connection conn;
  try {
    conn = pg::Connection::open(url, "migrate", {{"application_name", "waconnector/migrate"}});
  } catch (const pg::Error& e) {
    std::cerr << "waconnector: " << e.what() << "\n";
    return 1;
  }
  const auto res = store::migrate(conn);
  store::require_lock_key_mode(conn, *mode);
  if (res.applied.empty()) {
    std::cout << fmt::format("schema up to date at version {}\n", res.version);
  } else {
    for (const auto& m : res.applied) std::cout << fmt::format("applied {:04d}_{}\n", m.version, m.name);
    std::cout << fmt::format("schema now at version {}\n", res.version);
  }
  std::cout << fmt::format("lock keys: {}\n", store::to_string(*mode));
  return 0;
}

}  // namespace wa::app
