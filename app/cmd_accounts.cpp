// waconnector accounts add|list|rekey|pair|step-down|remove: the account registry from the
// command line.
#include <chrono>
#include <iostream>
#include <thread>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "app/cli_database.h"
#include "app/config_check.h"
#include "app/commands.h"
#include "app/flags.h"
#include "app/qr_pair_cli.h"
#include "common/log.h"
#include "common/mask.h"
#include "common/utc_time.h"
#include "store/accounts.h"
#include "store/advisory_lock.h"
#include "store/notify.h"
#include "store/pg.h"
#include "store/tenants.h"

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
    "  step-down  ask the pod leading an account to hand it to a standby (--business-id ID)\n"
    "  remove   delete an account with its credentials, keys and messages (--business-id ID --yes)\n"
    "\n"
    "Run 'waconnector accounts SUBCOMMAND --help' for its flags.\n";

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
           business_id_flag("the account's business id (1-64 of A-Z a-z 0-9 _ . -)"),
           {"jid", "WACONN_JID", "the account's WhatsApp jid when already paired (user[:device]@server)", ""},
           lock_keys_flag(false),
           {"database-url-for-tenant", "WACONN_TENANT_DATABASE_URL",
            "keep this account's device, Signal, inbox and outbox rows in this database (migrated now; no "
            "password in the URL: see --tenant-password-file)",
            ""},
           {"tenant-password-file", "WACONN_TENANT_PASSWORD_FILE",
            "file holding the tenant database's password, read by every pod at every connection (a mounted "
            "Secret; the path is stored, never the password)",
            ""}});
  if (!f.parse(argc, argv)) return 0;
  const auto business_id = checked_business_id(f);
  const auto jid = f.get("jid");
  if (jid)
    if (auto e = store::validate_jid(*jid); !e.empty()) throw ConfigError("--jid: " + e);
  const auto mode = lock_key_mode(f);
  auto conn = open_database(f, "accounts add", "accounts");
  const auto effective = mode ? *mode : store::stored_lock_key_mode(conn);
  store::require_lock_key_mode(conn, effective);
  std::optional<store::Account> added;
  if (const auto tenant_url = f.get("database-url-for-tenant")) {
    if (auto e = check_database_url(*tenant_url); !e.empty()) throw ConfigError("--database-url-for-tenant: " + e);
    if (!database_url_passwords(*tenant_url).empty())
      throw ConfigError(
          "--database-url-for-tenant: the URL carries a password, which would be stored in clear; leave it out and "
          "give --tenant-password-file instead");
    const store::TenantDatabase t{business_id, *tenant_url, f.get("tenant-password-file")};
    store::register_tenant_password(t);
    store::install_tenant_password_source();
    auto tenant = pg::Connection::open(t.database_url, "accounts add: tenant database",
                                       {{"application_name", "waconnector/accounts"}});
    added = store::add_tenant_account(conn, tenant, t, jid);
    std::cout << fmt::format("business {} keeps its data in its own database (migrated)\n", business_id);
  } else {
    added = store::add_account(conn, business_id, jid);
  }
  const auto& a = *added;
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
  auto conn = open_database(f, "accounts list", "accounts");
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
  const auto mode = *lock_key_mode(f);  // required: parse() refused a missing one
  auto conn = open_database(f, "accounts rekey", "accounts");
  const int n = store::rekey_accounts(conn, mode, f.boolean("force"));
  std::cout << fmt::format("rekeyed {} account(s); lock keys: {}\n", n, store::to_string(mode));
  return 0;
}

// The account's registry row; a clear error when it is not registered.
store::Account find_account(pg::Connection& conn, const std::string& business_id) {
  auto list = store::list_accounts(conn, {business_id});
  if (list.empty())
    throw std::runtime_error(fmt::format("business {} is not registered ('waconnector accounts list' shows "
                                         "the registered ones)",
                                         business_id));
  return list.front();
}

struct LockHolder {
  int pid = 0;
  std::string application_name;  // waconnector/<pod>/<session kind> for a pod
};

// Who holds the account's advisory lock (the one-bigint key space), if anyone.
std::optional<LockHolder> lock_holder(pg::Connection& conn, std::int64_t key) {
  auto r = conn.exec("find the account lock's holder",
                     "SELECT l.pid, coalesce(a.application_name, '') FROM pg_locks l"
                     " JOIN pg_database d ON d.oid = l.database"
                     " LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
                     " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
                     " AND d.datname = current_database()"
                     " AND ((l.classid::bigint << 32) | l.objid::bigint) = $1::bigint",
                     {key});
  if (r.rows() == 0) return std::nullopt;
  return LockHolder{static_cast<int>(r.i64(0, 0)), std::string(r.text(0, 1))};
}

// Asks the leader (the pod and epoch the registry names) to give the account up.
void send_step_down(pg::Connection& conn, const store::Account& a) {
  store::notify(conn, store::kLeaderChannel,
                store::notice_payload({a.business_id, a.lease_epoch, std::string(store::kStepDownNotice),
                                       a.assigned_pod.value_or("")}));
}

std::chrono::milliseconds wait_flag(const Flags& f) {
  const auto w = f.duration("wait");
  if (w.count() < 100) throw ConfigError("--wait must be at least 100ms");
  return w;
}

int accounts_step_down(int argc, char** argv) {
  Flags f("waconnector accounts step-down",
          "Ask the pod that leads an account to hand it over: it stops the WhatsApp session, releases the "
          "lock and waits --give-up-backoff before competing again, so a standby takes the account. Use it to "
          "move an account off a pod before maintenance. Exits 1 when nobody leads the account or the leader "
          "did not step down within --wait.",
          {database_url_flag(),
           business_id_flag("the account"),
           {"wait", "WACONN_WAIT", "how long to wait for the hand-over", "15s"}});
  if (!f.parse(argc, argv)) return 0;
  const auto business_id = checked_business_id(f);
  const auto wait = wait_flag(f);
  auto conn = open_database(f, "accounts step-down", "accounts");
  const auto a = find_account(conn, business_id);
  const auto holder = lock_holder(conn, a.lock_key);
  if (!holder || !a.assigned_pod)
    throw std::runtime_error(fmt::format("business {} has no leader (no session holds its lock); nothing to step "
                                         "down",
                                         business_id));
  send_step_down(conn, a);
  const auto deadline = std::chrono::steady_clock::now() + wait;
  std::optional<store::Account> now;
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const auto h = lock_holder(conn, a.lock_key);
    if (h && h->pid == holder->pid) continue;
    now = find_account(conn, business_id);
    // Stepped down; a standby usually wins at once. Say who, if it did within the wait.
    if (now->lease_epoch != a.lease_epoch || std::chrono::steady_clock::now() + std::chrono::milliseconds(100) >= deadline)
      break;
  }
  if (!now)
    throw std::runtime_error(fmt::format("pod {} did not step down from business {} (epoch {}) within {} ms: is it "
                                         "running and a waconnector build that knows step-down? Its log says "
                                         "step_down_requested when it acts",
                                         *a.assigned_pod, business_id, a.lease_epoch, wait.count()));
  if (now->lease_epoch != a.lease_epoch)
    std::cout << fmt::format("pod {} stepped down from business {} (epoch {}); now led by pod {} (epoch {})\n",
                             *a.assigned_pod, business_id, a.lease_epoch, now->assigned_pod.value_or("-"),
                             now->lease_epoch);
  else
    std::cout << fmt::format("pod {} stepped down from business {} (epoch {}); no pod leads it yet\n",
                             *a.assigned_pod, business_id, a.lease_epoch);
  return 0;
}

int accounts_remove(int argc, char** argv) {
  Flags f("waconnector accounts remove",
          "Delete an account from the registry together with its device credentials, Signal keys and "
          "sessions, pairing rows, inbox and outbox, in its tenant database too if it has one (ha_events history "
          "stays; the tenant database itself is not dropped). A pod leading it is asked to "
          "step down first; this command then holds the account's lock while it deletes, and a few seconds "
          "longer, so that no pod leads it again before every pod re-read the registry. Unlink the device on "
          "the phone too. Irreversible: pass --yes.",
          {database_url_flag(),
           business_id_flag("the account"),
           {"yes", "WACONN_YES", "confirm the deletion", "", true},
           {"wait", "WACONN_WAIT", "how long to wait for the leader to step down", "15s"}});
  if (!f.parse(argc, argv)) return 0;
  const auto business_id = checked_business_id(f);
  const auto wait = wait_flag(f);
  if (!f.boolean("yes"))
    throw ConfigError(fmt::format("accounts remove deletes business {} with its credentials and keys for good; "
                                  "pass --yes to confirm",
                                  business_id));
  auto conn = open_database(f, "accounts remove", "accounts");
  auto a = find_account(conn, business_id);
  const auto deadline = std::chrono::steady_clock::now() + wait;
  std::int64_t asked_epoch = -1;
  bool locked = false;
  while (!locked) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    if (lock_holder(conn, a.lock_key) && a.lease_epoch != asked_epoch && a.assigned_pod) {
      send_step_down(conn, a);
      asked_epoch = a.lease_epoch;
    }
    // Queue for the lock: a queued waiter is granted before any pod's later try-lock.
    conn.exec_simple("bound the lock wait",
                     fmt::format("SET lock_timeout = {}", std::min<std::int64_t>(left.count(), 2000)).c_str());
    try {
      conn.exec("take the account's lock", "SELECT pg_advisory_lock($1::bigint)", {a.lock_key});
      locked = true;
    } catch (const pg::Error& e) {
      if (e.connection_lost() || e.sqlstate() != "55P03") throw;
      a = find_account(conn, business_id);  // a new leader (block-mode waiter) may have won meanwhile
    }
  }
  conn.exec_simple("unbound lock waits", "SET lock_timeout = 0");
  if (!locked) {
    const auto h = lock_holder(conn, a.lock_key);
    throw std::runtime_error(fmt::format("business {} is still led by {} after {} ms; nothing was deleted (stop "
                                         "that pod, or retry)",
                                         business_id, h ? h->application_name : std::string("a pod"),
                                         wait.count()));
  }
  // A tenant database's rows go first: should that fail, the control row stays and the command can
  // be run again (no pod leads the account meanwhile: it has no shadow row to copy its epoch to).
  if (const auto t = store::tenant_database(conn, business_id)) {
    store::register_tenant_password(*t);
    store::install_tenant_password_source();
    auto tdb = pg::Connection::open(t->database_url, "accounts remove: tenant database",
                                    {{"application_name", "waconnector/accounts"}});
    store::remove_tenant_account(tdb, business_id);
    std::cout << fmt::format("removed business {}'s rows from its tenant database\n", business_id);
  }
  pg::TenantScope tenant(conn, business_id);  // row-level security (0011)
  const auto r = conn.exec("delete the account", "DELETE FROM wa_accounts WHERE business_id = $1 RETURNING 1",
                           {business_id});
  if (r.rows() != 1) throw std::runtime_error(fmt::format("business {} was removed meanwhile", business_id));
  // Pods re-read the registry every 3 s; until then a standby would still try this key.
  std::this_thread::sleep_for(std::chrono::seconds(4));
  conn.exec("release the account's lock", "SELECT pg_advisory_unlock($1::bigint)", {a.lock_key});
  std::cout << fmt::format("removed business {}{}; unlink the device on the phone as well\n", business_id,
                           a.jid ? " (" + mask_jid(*a.jid) + ")" : std::string());
  return 0;
}

}  // namespace

int cmd_accounts(int argc, char** argv) {
  return dispatch_subcommand(
      "accounts", kAccountsUsage, argc, argv,
      {{"add", accounts_add}, {"list", accounts_list}, {"rekey", accounts_rekey},
       {"pair", accounts_pair},
       {"step-down", accounts_step_down},
       {"remove", accounts_remove}});
}

}  // namespace wa::app
