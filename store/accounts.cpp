#include "store/accounts.h"

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>
#include <prometheus/counter.h>

#include "common/log.h"
#include "common/mask.h"
#include "store/advisory_lock.h"
#include "store/enum_names.h"
#include "store/fenced_write.h"
#include "store/migrator.h"
#include "store/row.h"

namespace wa::store {

namespace {

// Serialises registry changes that compute or compare lock keys (add, set_jid, rekey), so the
// collision check and the write are atomic. Same two-int key space as the migration lock.
constexpr int kRegistryLockObject = 2;

void lock_registry(pg::Connection& conn) {
  conn.exec("take the account registry lock", "SELECT pg_advisory_xact_lock($1::int, $2::int)",
            {kMigrationLockClass, kRegistryLockObject});
}

constexpr const char* kSelectColumns =
    "business_id, jid, status, lock_key, lease_epoch, assigned_pod, previous_pod, failover_count,"
    " (extract(epoch FROM last_failover_at) * 1000)::bigint,"
    " (extract(epoch FROM last_connected_at) * 1000)::bigint,"
    " (extract(epoch FROM last_activity_at) * 1000)::bigint,"
    " (extract(epoch FROM disconnected_at) * 1000)::bigint,"
    " disconnect_reason, disconnect_details, session_restore_count, health_score, qr_code,"
    " (extract(epoch FROM created_at) * 1000)::bigint,"
    " (extract(epoch FROM updated_at) * 1000)::bigint";

Account row_to_account(const pg::Result& r, int i) {
  Account a;
  pg::read_row(r, i, a.business_id, a.jid, a.status, a.lock_key, a.lease_epoch, a.assigned_pod, a.previous_pod,
               a.failover_count, a.last_failover_at_ms, a.last_connected_at_ms, a.last_activity_at_ms,
               a.disconnected_at_ms, a.disconnect_reason, a.disconnect_details, a.session_restore_count,
               a.health_score, a.qr_code, a.created_at_ms, a.updated_at_ms);
  return a;
}

bool is_one_of(std::string_view v, const auto& list) {
  return std::any_of(std::begin(list), std::end(list), [&](const char* s) { return v == s; });
}

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// Refuses a key already used by another account, naming it. Call with the registry lock held.
void check_key_free(pg::Connection& conn, const std::string& business_id, std::int64_t key, std::string_view what) {
  auto r = conn.exec(fmt::format("look for lock key collisions of business {}", business_id),
                     "SELECT wa_account_with_lock_key($1::bigint, $2)", {key, business_id});
  if (r.is_null(0, 0)) return;
  const std::string other(r.text(0, 0));
  log::error("lock_key_collision").kv("business_id", business_id).kv("other_business_id", other).kv("lock_key", key);
  throw KeyCollision(fmt::format("{} of business {} refused: its lock key {} is already the lock key of business {}; "
                                 "two accounts on one advisory lock would share one leader. Use --lock-keys "
                                 "hashtextextended (64-bit keys; 'waconnector accounts rekey' with all pods stopped)",
                                 what, business_id, key, other),
                     other, key);
}

// Refuses a jid already registered for another account.
void check_jid_free(pg::Connection& conn, const std::string& business_id, const std::string& jid) {
  auto r = conn.exec(fmt::format("look for another account with the jid of business {}", business_id),
                     "SELECT wa_account_with_jid($1, $2)", {jid, business_id});
  if (!r.is_null(0, 0))
    throw AlreadyExists(fmt::format("jid {} is already registered for business {}", mask_jid(jid), r.text(0, 0)));
}

// UPDATE of the account row itself, fenced atomically: `sql` must end in
// "WHERE business_id = $1 AND lease_epoch = $2" (the row lock makes begin_lease wait for it).
void fenced_update(pg::Connection& conn, const std::string& business_id, std::int64_t epoch, std::string_view purpose,
                   const char* sql, std::vector<pg::Param> params, prometheus::Counter* refused) {
  params.insert(params.begin(), {pg::Param(business_id), pg::Param(epoch)});
  pg::TenantScope tenant(conn, business_id);
  auto r = conn.exec(fmt::format("{} for business {}", purpose, business_id), sql, params);
  if (std::string_view(PQcmdTuples(r.get())) == "1") return;
  auto cur = conn.exec(fmt::format("{}: read lease epoch of business {}", purpose, business_id),
                       "SELECT lease_epoch FROM wa_accounts WHERE business_id = $1", {business_id});
  refuse_write(business_id, epoch, cur.rows() ? std::optional<std::int64_t>(cur.i64(0, 0)) : std::nullopt, purpose,
               refused);
}

}  // namespace

namespace {
constexpr EnumNames<LockKeyMode, 2> kLockKeyModes{
    {{LockKeyMode::hashtext, "hashtext"}, {LockKeyMode::hashtextextended, "hashtextextended"}}};
}  // namespace

const char* to_string(LockKeyMode m) { return enum_name(kLockKeyModes, m); }

std::optional<LockKeyMode> parse_lock_key_mode(std::string_view s) { return enum_parse(kLockKeyModes, s); }

LockKeyMode stored_lock_key_mode(pg::Connection& conn) {
  auto r = conn.exec("read the lock-keys mode", "SELECT value FROM wa_settings WHERE key = 'lock_keys'");
  if (r.rows() == 0) return LockKeyMode::hashtext;
  auto m = parse_lock_key_mode(r.text(0, 0));
  if (!m) throw StoreError(fmt::format("wa_settings.lock_keys holds '{}', which this binary does not know", r.text(0, 0)));
  return *m;
}

void require_lock_key_mode(pg::Connection& conn, LockKeyMode configured) {
  conn.exec("store the lock-keys mode if none is stored",
            "INSERT INTO wa_settings (key, value) VALUES ('lock_keys', $1) ON CONFLICT (key) DO NOTHING",
            {to_string(configured)});
  const auto stored = stored_lock_key_mode(conn);
  if (stored != configured)
    throw LockKeyModeMismatch(fmt::format(
        "--lock-keys {} differs from the cluster's lock-keys mode {} (stored in wa_settings): pods with different "
        "modes would lock different keys for one account. Use --lock-keys {}, or change the mode for the whole "
        "cluster with 'waconnector accounts rekey --lock-keys {}' while all pods are stopped",
        to_string(configured), to_string(stored), to_string(stored), to_string(configured)));
}

int rekey_accounts(pg::Connection& conn, LockKeyMode mode, bool force) {
  pg::TenantScope tenant(conn, account_ids(conn));
  pg::Transaction tx(conn, "rekey accounts");
  lock_registry(conn);
  if (!force) {
    // Account locks are one-bigint advisory locks (objsubid 1); any held by another session means a
    // pod is running and would keep its old keys.
    auto r = conn.exec("look for running pods (held account locks)",
                       "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1"
                       " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                       " AND pid <> pg_backend_pid()");
    if (r.i64(0, 0) > 0)
      throw StoreError(fmt::format("rekey refused: {} account lock(s) are held by running pods; stop every pod "
                                   "first (a running pod keeps locking its old keys), or pass --force",
                                   r.i64(0, 0)));
  }
  conn.exec("store the lock-keys mode",
            "INSERT INTO wa_settings (key, value) VALUES ('lock_keys', $1)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = now()",
            {to_string(mode)});
  auto c = conn.exec("look for lock key collisions under the new mode",
                     "SELECT k, min(business_id), max(business_id) FROM"
                     " (SELECT wa_lock_key(jid, business_id) AS k, business_id FROM wa_accounts) s"
                     " GROUP BY k HAVING count(*) > 1 LIMIT 1");
  if (c.rows() > 0)
    throw KeyCollision(fmt::format("rekey to {} refused: businesses {} and {} would share lock key {}", to_string(mode),
                                   c.text(0, 1), c.text(0, 2), c.i64(0, 0)),
                       std::string(c.text(0, 2)), c.i64(0, 0));
  conn.exec_simple("defer the lock key uniqueness check", "SET CONSTRAINTS wa_accounts_lock_key_unique DEFERRED");
  auto u = conn.exec("recompute lock keys",
                     "UPDATE wa_accounts SET lock_key = wa_lock_key(jid, business_id), updated_at = now()");
  const int n = std::atoi(PQcmdTuples(u.get()));
  tx.commit();
  log::info("accounts_rekeyed").kv("lock_keys", to_string(mode)).kv("accounts", n);
  return n;
}

std::string validate_business_id(std::string_view id) {
  if (id.empty()) return "business id is empty";
  if (id.size() > 64) return fmt::format("business id is {} characters long; at most 64 are allowed", id.size());
  for (char c : id)
    if (!is_alnum(c) && c != '_' && c != '.' && c != '-')
      return "business id may contain only letters, digits, '_', '.' and '-'";
  return {};
}

std::string validate_jid(std::string_view jid) {
  const auto at = jid.find('@');
  if (at == std::string_view::npos || jid.find('@', at + 1) != std::string_view::npos)
    return "jid must look like user@server or user:device@server (e.g. 15551234567@s.whatsapp.net)";
  std::string_view user = jid.substr(0, at);
  const std::string_view server = jid.substr(at + 1);
  if (const auto colon = user.find(':'); colon != std::string_view::npos) {
    const auto device = user.substr(colon + 1);
    if (device.empty() || device.size() > 5 ||
        !std::all_of(device.begin(), device.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return "jid device (after ':') must be a number of 1-5 digits";
    user = user.substr(0, colon);
  }
  if (user.empty() || user.size() > 64 || !std::all_of(user.begin(), user.end(), is_alnum))
    return "jid user (before '@') must be 1-64 letters or digits";
  if (server.empty() || server.size() > 64 ||
      !std::all_of(server.begin(), server.end(), [](char c) { return is_alnum(c) || c == '.' || c == '-'; }) ||
      server.front() == '.' || server.back() == '.')
    return "jid server (after '@') must be a host name such as s.whatsapp.net";
  return {};
}

std::vector<std::string> account_ids(pg::Connection& conn) {
  auto r = conn.exec("list the registered business ids", "SELECT wa_account_ids()");
  std::vector<std::string> ids;
  ids.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) ids.emplace_back(r.text(i, 0));
  return ids;
}

std::int64_t compute_lock_key(pg::Connection& conn, const std::string& business_id,
                              const std::optional<std::string>& jid) {
  auto r = conn.exec(fmt::format("compute the lock key of business {}", business_id), "SELECT wa_lock_key($1, $2)",
                     {pg::Param(jid), pg::Param(business_id)});
  return r.i64(0, 0);
}

Account add_account(pg::Connection& conn, const std::string& business_id, const std::optional<std::string>& jid,
                    const std::function<void(pg::Connection&)>& in_transaction) {
  if (auto e = validate_business_id(business_id); !e.empty()) throw StoreError(e);
  if (jid)
    if (auto e = validate_jid(*jid); !e.empty()) throw StoreError(e);
  pg::TenantScope tenant(conn, business_id);
  pg::Transaction tx(conn, fmt::format("register business {}", business_id));
  lock_registry(conn);
  auto ex = conn.exec(fmt::format("look for business {}", business_id),
                      "SELECT 1 FROM wa_accounts WHERE business_id = $1", {business_id});
  if (ex.rows() > 0) throw AlreadyExists(fmt::format("business {} is already registered", business_id));
  if (jid) check_jid_free(conn, business_id, *jid);
  const auto key = compute_lock_key(conn, business_id, jid);
  check_key_free(conn, business_id, key, "registering");
  auto r = conn.exec(fmt::format("register business {}", business_id),
                     (std::string("INSERT INTO wa_accounts (business_id, jid, lock_key) VALUES ($1, $2, $3::bigint)"
                                  " RETURNING ") +
                      kSelectColumns)
                         .c_str(),
                     {pg::Param(business_id), pg::Param(jid), pg::Param(key)});
  if (in_transaction) in_transaction(conn);
  tx.commit();
  log::info("account_added")
      .kv("business_id", business_id)
      .kv("jid", jid ? mask_jid(*jid) : std::string())
      .kv("lock_key", key);
  return row_to_account(r, 0);
}

std::vector<Account> list_accounts(pg::Connection& conn, const std::vector<std::string>& only) {
  const std::string sql = std::string("SELECT ") + kSelectColumns +
                          " FROM wa_accounts WHERE ($1::text[] IS NULL OR business_id = ANY($1::text[]))"
                          " ORDER BY business_id";
  pg::Param filter;  // NULL = all
  if (!only.empty()) filter = pg::Param::array(only);
  // All: the ids come from wa_account_ids() (RLS shows no account before it is named).
  pg::TenantScope tenant(conn, only.empty() ? account_ids(conn) : only);
  auto r = conn.exec("list accounts", sql.c_str(), {filter});
  return pg::read_rows<Account>(r, row_to_account);
}

std::optional<Account> get_account(pg::Connection& conn, const std::string& business_id) {
  auto v = list_accounts(conn, {business_id});
  if (v.empty()) return std::nullopt;
  return v.front();
}

namespace {

// wa_begin_lease (migration 0011) is the statement described above, scoped to the one business it
// bumps: the lock session sends it alone, so it cannot be preceded by a set_config. Column
// references in its SET are the row's values before the update (previous_pod gets the old
// assigned_pod). Its row lock waits for fenced writes holding the row FOR SHARE (bounded by
// lock_timeout). `previous_epoch` is the epoch before the bump (the previous holder's, unless a bump
// was lost with an old primary): a new leader holds for a live previous holder until it said it
// stopped that epoch.
constexpr const char* kBeginLeaseSql = "SELECT * FROM wa_begin_lease($1, $2, $3::bigint, $4::int)";

}  // namespace

LeaseStatement begin_lease_statement(const std::string& business_id, const std::string& pod,
                                     std::optional<std::int64_t> lock_key) {
  return {kBeginLeaseSql, {pg::Param(business_id), pg::Param(pod), pg::Param(lock_key), pg::Param(kLivenessLockClass)}};
}

std::optional<Lease> lease_from(const pg::Result& r, const std::string& pod) {
  if (r.rows() == 0) return std::nullopt;
  Lease l;
  l.epoch = r.i64(0, 0);
  l.previous_pod = r.opt(0, 1);
  l.failover = l.previous_pod && *l.previous_pod != pod;
  l.previous_alive = r.boolean(0, 2);
  l.previous_epoch = r.is_null(0, 3) ? 0 : r.i64(0, 3);
  return l;
}

Lease begin_lease(pg::Connection& conn, const std::string& business_id, const std::string& pod) {
  const auto st = begin_lease_statement(business_id, pod, std::nullopt);
  pg::TenantScope tenant(conn, business_id);
  auto r = conn.exec(fmt::format("begin lease of business {}", business_id), st.sql, st.params);
  auto l = lease_from(r, pod);
  if (!l) throw NotFound(fmt::format("begin lease: business {} is not registered", business_id));
  return *l;
}

void set_status(pg::Connection& conn, const std::string& business_id, std::int64_t epoch, std::string_view status,
                prometheus::Counter* refused) {
  if (!is_one_of(status, kStatuses)) throw StoreError(fmt::format("unknown account status '{}'", status));
  fenced_update(conn, business_id, epoch, "set status",
                "UPDATE wa_accounts SET status = $3, updated_at = now() WHERE business_id = $1 AND lease_epoch = $2",
                {std::string(status)}, refused);
}

void set_connected(pg::Connection& conn, const std::string& business_id, std::int64_t epoch, bool restored_session,
                   prometheus::Counter* refused) {
  fenced_update(conn, business_id, epoch, "record connected",
                "UPDATE wa_accounts SET status = 'connected', last_connected_at = now(), last_activity_at = now(),"
                " disconnected_at = NULL, disconnect_reason = NULL, disconnect_details = NULL, qr_code = NULL,"
                " session_restore_count = session_restore_count + CASE WHEN $3::boolean THEN 1 ELSE 0 END,"
                " updated_at = now() WHERE business_id = $1 AND lease_epoch = $2",
                {restored_session}, refused);
}

void set_disconnected(pg::Connection& conn, const std::string& business_id, std::int64_t epoch,
                      std::string_view reason, std::string_view details, std::string_view status,
                      prometheus::Counter* refused) {
  if (!is_one_of(reason, kDisconnectReasons)) throw StoreError(fmt::format("unknown disconnect reason '{}'", reason));
  if (!is_one_of(status, kStatuses)) throw StoreError(fmt::format("unknown account status '{}'", status));
  fenced_update(conn, business_id, epoch, "record disconnect",
                "UPDATE wa_accounts SET status = $3, disconnected_at = now(), disconnect_reason = $4,"
                " disconnect_details = $5, updated_at = now() WHERE business_id = $1 AND lease_epoch = $2",
                {std::string(status), std::string(reason), std::string(details)}, refused);
}

void touch_activity(pg::Connection& conn, const std::string& business_id, std::int64_t epoch,
                    prometheus::Counter* refused) {
  fenced_update(conn, business_id, epoch, "record activity",
                "UPDATE wa_accounts SET last_activity_at = now() WHERE business_id = $1 AND lease_epoch = $2", {},
                refused);
}

AccountEpochArrays to_arrays(const std::vector<AccountEpoch>& v) {
  AccountEpochArrays out;
  out.ids.reserve(v.size());
  out.epochs.reserve(v.size());
  for (const auto& a : v) {
    out.ids.push_back(a.business_id);
    out.epochs.push_back(a.epoch);
  }
  return out;
}

std::int64_t touch_activity_batch(pg::Connection& conn, const std::vector<AccountEpoch>& stamps) {
  if (stamps.empty()) return 0;
  const auto a = to_arrays(stamps);
  pg::TenantScope tenant(conn, a.ids);
  auto r = conn.exec(fmt::format("record activity of {} businesses", a.ids.size()),
                     "UPDATE wa_accounts a SET last_activity_at = now() FROM unnest($1::text[], $2::bigint[]) AS l(b, e)"
                     " WHERE a.business_id = l.b AND a.lease_epoch = l.e",
                     {pg::Param::array(a.ids), pg::Param::array(a.epochs)});
  return std::atoll(PQcmdTuples(r.get()));
}

void set_qr_code(pg::Connection& conn, const std::string& business_id, std::int64_t epoch,
                 const std::optional<std::string>& qr, prometheus::Counter* refused) {
  fenced_update(conn, business_id, epoch, "store QR code",
                "UPDATE wa_accounts SET qr_code = $3::text,"
                " status = CASE WHEN $3 IS NULL THEN status ELSE 'qr_scanning' END,"
                " updated_at = now() WHERE business_id = $1 AND lease_epoch = $2",
                {pg::Param(qr)}, refused);
}

void set_health_score(pg::Connection& conn, const std::string& business_id, std::int64_t epoch, int score,
                      prometheus::Counter* refused) {
  if (score < 0 || score > 100) throw StoreError(fmt::format("health score {} is outside 0..100", score));
  fenced_update(conn, business_id, epoch, "store health score",
                "UPDATE wa_accounts SET health_score = $3::int, updated_at = now()"
                " WHERE business_id = $1 AND lease_epoch = $2",
                {score}, refused);
}

std::int64_t set_jid_in_transaction(pg::Connection& conn, const std::string& business_id, std::int64_t epoch,
                                    const std::optional<std::string>& jid, prometheus::Counter* refused) {
  if (jid)
    if (auto e = validate_jid(*jid); !e.empty()) throw StoreError(e);
  pg::TenantScope tenant(conn, business_id);
  lock_registry(conn);
  auto cur = conn.exec(fmt::format("set jid: lock the account row of business {}", business_id),
                       "SELECT lease_epoch FROM wa_accounts WHERE business_id = $1 FOR NO KEY UPDATE", {business_id});
  if (cur.rows() == 0) refuse_write(business_id, epoch, std::nullopt, "set jid", refused);
  if (cur.i64(0, 0) != epoch) refuse_write(business_id, epoch, cur.i64(0, 0), "set jid", refused);
  if (jid) check_jid_free(conn, business_id, *jid);
  const auto key = compute_lock_key(conn, business_id, jid);
  check_key_free(conn, business_id, key, "setting the jid");
  conn.exec(fmt::format("set jid of business {}", business_id),
            "UPDATE wa_accounts SET jid = $2::text, lock_key = $3::bigint,"
            " status = CASE WHEN $2 IS NULL THEN status ELSE 'authenticated' END, updated_at = now()"
            " WHERE business_id = $1",
            {pg::Param(business_id), pg::Param(jid), pg::Param(key)});
  return key;
}

std::int64_t set_jid(pg::Connection& conn, const std::string& business_id, std::int64_t epoch,
                     const std::optional<std::string>& jid, prometheus::Counter* refused) {
  pg::TenantScope tenant(conn, business_id);
  pg::Transaction tx(conn, fmt::format("set jid of business {}", business_id));
  const auto key = set_jid_in_transaction(conn, business_id, epoch, jid, refused);
  tx.commit();
  log::info("account_jid_set")
      .kv("business_id", business_id)
      .kv("jid", jid ? mask_jid(*jid) : std::string())
      .kv("lock_key", key);
  return key;
}

}  // namespace wa::store
