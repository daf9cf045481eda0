// waconnector migrate: applies the embedded schema migrations. Safe to run from many pods at once
// (the migrator serialises them with an advisory lock).
#include <iostream>
#include <optional>

#include <fmt/format.h>

#include "app/cli_database.h"
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
                  database_url_flag(),
                  lock_keys_flag(false),
              });
  if (!flags.parse(argc, argv)) return 0;
  const auto url = checked_database_url(flags);
  const auto mode = lock_key_mode(flags);

  pg::Connection conn;
  try {
    conn = pg::Connection::open(url, "migrate", {{"application_name", "waconnector/migrate"}});
  } catch (const pg::Error& e) {
    std::cerr << "waconnector: " << e.what() << "\n";
    return 1;
  }
  const auto res = store::migrate(conn);
  // Stores the mode on a new cluster (the flag's, else hashtext); refuses a flag that disagrees.
  store::require_lock_key_mode(conn, mode ? *mode : store::stored_lock_key_mode(conn));
  if (res.applied.empty() && res.version > store::latest_known_version()) {
    // A rollback: the next release migrated already; its migrations are inside this binary's window.
    std::cout << fmt::format("schema at version {}, newer than this binary ({}) but inside its compatibility "
                             "window; nothing to do\n",
                             res.version, store::latest_known_version());
  } else if (res.applied.empty()) {
    std::cout << fmt::format("schema up to date at version {}\n", res.version);
  } else {
    for (const auto& m : res.applied) std::cout << fmt::format("applied {:04d}_{}\n", m.version, m.name);
    std::cout << fmt::format("schema now at version {}\n", res.version);
  }
  std::cout << fmt::format("lock keys: {}\n", store::to_string(store::stored_lock_key_mode(conn)));
  return 0;
}

}  // namespace wa::app
