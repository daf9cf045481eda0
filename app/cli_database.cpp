#include "app/cli_database.h"

#include <fmt/format.h>

#include "app/config_check.h"
#include "store/migrator.h"

namespace wa::app {

FlagSpec database_url_flag() {
  return {"database-url", "DATABASE_URL", "PostgreSQL URL or conninfo", "", false, true};
}

FlagSpec business_id_flag(std::string help, bool required) {
  return {"business-id", "WACONN_BUSINESS_ID", std::move(help), "", false, required};
}

FlagSpec lock_keys_flag(bool required) {
  return {"lock-keys", "LOCK_KEYS",
          required ? "the new advisory lock key mode: hashtext (32-bit) or hashtextextended (64-bit)"
                   : "advisory lock key mode: hashtext (32-bit) or hashtextextended (64-bit). Unset: the "
                     "cluster's stored mode (hashtext for a new cluster); set: must equal the stored mode",
          "", false, required};
}

std::string checked_business_id(const Flags& f) {
  const auto b = f.get("business-id");
  if (!b) return "";  // optional and unset (a required one: parse() refused it)
  if (auto e = store::validate_business_id(*b); !e.empty()) throw ConfigError("--business-id: " + e);
  return *b;
}

std::optional<store::LockKeyMode> lock_key_mode(const Flags& f) {
  const auto v = f.get("lock-keys");
  if (!v) return std::nullopt;
  const auto m = store::parse_lock_key_mode(*v);
  if (!m) throw ConfigError(fmt::format("--lock-keys: '{}' is not hashtext or hashtextextended", *v));
  return m;
}

std::string checked_database_url(const Flags& f) {
  auto url = f.str("database-url");
  if (auto e = check_database_url(url); !e.empty()) throw ConfigError("--database-url: " + e);
  return url;
}

pg::Connection open_database(const Flags& f, std::string_view purpose, std::string_view command) {
  auto conn = pg::Connection::open(checked_database_url(f), purpose,
                                   {{"application_name", fmt::format("waconnector/{}", command)}});
  store::require_schema(conn);
  return conn;
}

}  // namespace wa::app
