// waconnector accounts add|list|rekey|pair: the account registry from the command line.
#include <iostream>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "app/commands.h"
#include "app/config_check.h"
#include "app/flags.h"
#include "app/qr_pair_cli.h"
#include "common/log.h"
#include "common/mask.h"
#include "common/utc_time.h"
#include "store/accounts.h"
#include "store/migrator.h"
#include "store/pg.h"

namespace wa::app {

namespace {

constexpr const char* kAccountsUsage =
    "usage: waconnector accounts SUBCOMMAND [flags]\n"
    "\n"
    "subcommands:\n"
    "  add      register an account (--business-id ID [--jid JID])\n"
    "  list     list the registered accounts (--json for machine-readable output)\n"
    "  rekey    recompute every lock key under --lock-keys MODE (stop ALL pods first)\n"
    "  pair     show the pairing QR in the terminal until paired (--business-id ID), or\n"
    "           print a phone-number pair code (--business-id ID --phone +CC...)\n"
    "\n"
    "Run 'waconnector accounts SUBCOMMAND --help' for its flags.\n";

FlagSpec database_url_flag() {
  return {"database-url", "DATABASE_URL", "PostgreSQL URL or conninfo", "", false, true};
}

FlagSpec lock_keys_flag(bool required) {
  return {
      "lock-keys",
      "LOCK_KEYS",
      required
          ? "the new advisory lock key mode: hashtext (32-bit) or hashtextextended (64-bit)"
          : "advisory lock key mode: hashtext (32-bit) or hashtextextended (64-bit). Unset: the cluster's "
            "stored mode (hashtext for a new cluster); set: must equal the stored mode",
      "",
      false,
      required};
}

// nullopt when the flag (and its env) is unset.
std::optional<store::LockKeyMode> parse_mode(const Flags& f) {
  const auto v = f.get("lock-keys");
  if (!v) return std::nullopt;
  const auto m = store::parse_lock_key_mode(*v);
  if (!m) throw ConfigError(fmt::format("--lock-keys: '{}' is not hashtext or hashtextextended", *v));
  return m;
}

// Connects and checks the schema; a database that is down or unmigrated is a runtime failure (1).
pg::Connection connect(const Flags& f, std::string_view purpose) {
  const auto url = f.str("database-url");
  if (auto e = check_database_url(url); !e.empty()) throw ConfigError("--database-url: " + e);
  auto conn = pg::Connection::open(url, purpose, {{"application_name", "waconnector/accounts"}});
  store::require_schema(conn);
  return conn;
}

std::string ms_to_text(const std::optional<std::int64_t>& ms) {
  if (!ms) return "-";
  return format_utc(*ms, "%Y-%m-%dT%H:%M:%SZ");
}

void json_kv(std::string& out, std::string_view key, const std::optional<std::string>& v) {
  log::append_json_string(out, key);
  out += ':';
  if (v)
    log::append_json_string(out, *v);
  else
    out += "null";
}

void json_kv(std::string& out, std::string_view key, const std::optional<std::int64_t>& v) {
  log::append_json_string(out, key);
  out += ':';
  out += v ? std::to_string(*v) : "null";
}

std::string to_json(const store::Account& a) {
  std::string o = "{";
  json_kv(o, "business_id", a.business_id);
  o += ',';
  json_kv(o, "jid", a.jid);
  o += ',';
  json_kv(o, "status", a.status);
  o += ',';
  json_kv(o, "lock_key", a.lock_key);
  o += ',';
  json_kv(o, "lease_epoch", a.lease_epoch);
  o += ',';
  json_kv(o, "assigned_pod", a.assigned_pod);
  o += ',';
  json_kv(o, "previous_pod", a.previous_pod);
  o += ',';
  json_kv(o, "failover_count", a.failover_count);
  o += ',';
  json_kv(o, "last_failover_at_ms", a.last_failover_at_ms);
  o += ',';
  json_kv(o, "last_connected_at_ms", a.last_connected_at_ms);
  o += ',';
  json_kv(o, "last_activity_at_ms", a.last_activity_at_ms);
  o += ',';
  json_kv(o, "disconnected_at_ms", a.disconnected_at_ms);
  o += ',';
  json_kv(o, "disconnect_reason", a.disconnect_reason);
  o += ',';
  json_kv(o, "disconnect_details", a.disconnect_details);
  o += ',';
  json_kv(o, "session_restore_count", a.session_restore_count);
  o += ',';
  json_kv(o, "health_score", std::optional<std::int64_t>(a.health_score));
  o += ",\"qr_pending\":";
  o += a.qr_code ? "true" : "false";
  o += ',';
  json_kv(o, "created_at_ms", a.created_at_ms);
  o += ',';
  json_kv(o, "updated_at_ms", a.updated_at_ms);
  o += '}';
  return o;
}

int accounts_add(int argc, char** argv) {
  Flags f("waconnector accounts add", "Register an account. Its lock key is computed by the database.",
          {database_url_flag(),
           {"business-id", "WACONN_BUSINESS_ID", "the account's business id (1-64 of A-Z a-z 0-9 _ . -)", "",
            false, true},
           {"jid", "WACONN_JID", "the account's WhatsApp jid when already paired (user[:device]@server)", ""},
           lock_keys_flag(false)});
  if (!f.parse(argc, argv)) return 0;
  const auto business_id = f.str("business-id");
  if (auto e = store::validate_business_id(business_id); !e.empty()) throw ConfigError("--business-id: " + e);
  const auto jid = f.get("jid");
  if (jid)
    if (auto e = store::validate_jid(*jid); !e.empty()) throw ConfigError("--jid: " + e);
  const auto mode = parse_mode(f);
  auto conn = connect(f, "accounts add");
  const auto effective = mode ? *mode : store::stored_lock_key_mode(conn);
  store::require_lock_key_mode(conn, effective);
  const auto a = store::add_account(conn, business_id, jid);
  std::cout << fmt::format("added business {}{} (lock key {}, {})\n", a.business_id,
                           a.jid ? " jid " + mask_jid(*a.jid) : std::string(), a.lock_key,
                           store::to_string(effective));
  return 0;
}

int accounts_list(int argc, char** argv) {
  Flags f("waconnector accounts list", "List the registered accounts (jids masked unless --json).",
          {database_url_flag(),
           {"json", "WACONN_JSON", "print one JSON array (unmasked jids) instead of a table", "", true}});
  if (!f.parse(argc, argv)) return 0;
  const bool json = f.boolean("json");
  auto conn = connect(f, "accounts list");
  const auto accounts = store::list_accounts(conn);
  if (json) {
    std::string out = "[";
    for (std::size_t i = 0; i < accounts.size(); ++i) {
      if (i) out += ",\n ";
      out += to_json(accounts[i]);
    }
    std::cout << out << "]\n";
    return 0;
  }
  std::cout << fmt::format("{:<24} {:<14} {:<32} {:>6} {:<20} {:>9} {:<20} {}\n", "BUSINESS_ID", "STATUS",
                           "JID", "EPOCH", "POD", "FAILOVERS", "LAST_CONNECTED", "LOCK_KEY");
  for (const auto& a : accounts)
    std::cout << fmt::format("{:<24} {:<14} {:<32} {:>6} {:<20} {:>9} {:<20} {}\n", a.business_id, a.status,
                             a.jid ? mask_jid(*a.jid) : "-", a.lease_epoch, a.assigned_pod.value_or("-"),
                             a.failover_count, ms_to_text(a.last_connected_at_ms), a.lock_key);
  std::cout << fmt::format("{} account(s), lock keys: {}\n", accounts.size(),
                           store::to_string(store::stored_lock_key_mode(conn)));
  return 0;
}

int accounts_rekey(int argc, char** argv) {
  Flags f("waconnector accounts rekey",
          "Change the cluster's lock-key mode and recompute every account's lock key. STOP ALL PODS FIRST: a "
          "running pod keeps locking its old keys, so two pods could lead one account. Refused while account "
          "locks are held unless --force.",
          {database_url_flag(),
           lock_keys_flag(true),
           {"force", "WACONN_REKEY_FORCE", "rekey even though account locks are held (pods seem to run)", "",
            true}});
  if (!f.parse(argc, argv)) return 0;
  const auto mode = *parse_mode(f);  // required: parse() refused a missing one
  auto conn = connect(f, "accounts rekey");
  const int n = store::rekey_accounts(conn, mode, f.boolean("force"));
  std::cout << fmt::format("rekeyed {} account(s); lock keys: {}\n", n, store::to_string(mode));
  return 0;
}

}  // namespace

int cmd_accounts(int argc, char** argv) {
  return dispatch_subcommand(
      "accounts", kAccountsUsage, argc, argv,
      {{"add", accounts_add}, {"list", accounts_list}, {"rekey", accounts_rekey}, {"pair", accounts_pair}});
}

}  // namespace wa::app
