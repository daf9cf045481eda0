// The account registry (wa_accounts) and the cluster-wide lock-key mode (wa_settings.lock_keys).
//
// Lock keys: an account's advisory-lock key is computed BY THE DATABASE and stored in
// wa_accounts.lock_key, so every pod locks the very same bigint (`pg_try_advisory_lock($1::bigint)`):
//   paired (jid set):  hashtext(jid)                       | hashtextextended(jid, 0)
//   before pairing:    hashtext('pair:' || business_id)    | hashtextextended('pair:' || business_id, 0)
// The mode (hashtext = 32-bit, the design's default; hashtextextended = 64-bit, for large fleets)
// is one setting for the whole cluster: pods with different modes would lock different keys for
// the same account. Changing it is rekey_accounts(), with every pod stopped.
//
// Writes made by the account's leader (status, jid, connection tracking) are epoch-fenced: they
// carry the lease epoch from begin_lease() and throw EpochMoved once it moved (see fenced_write.h).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/errors.h"
#include "store/pg.h"

namespace prometheus {
class Counter;
}

namespace wa::store {

enum class LockKeyMode { hashtext, hashtextextended };
const char* to_string(LockKeyMode m);
// "hashtext" | "hashtextextended"; nullopt otherwise.
std::optional<LockKeyMode> parse_lock_key_mode(std::string_view s);

// The stored cluster-wide mode; hashtext when none is stored yet.
LockKeyMode stored_lock_key_mode(pg::Connection& conn);
// Stores `configured` if no mode is stored yet; throws LockKeyModeMismatch (naming both modes and
// `accounts rekey`) when a different one is stored. `run`, `migrate` and `accounts add` call it.
void require_lock_key_mode(pg::Connection& conn, LockKeyMode configured);

// Recomputes every account's lock_key under `mode` and stores the mode, in one transaction.
// ALL PODS MUST BE STOPPED: a running pod would keep locking its old keys. Refused with
// StoreError while any other session in this database holds an advisory lock (a pod is running)
// unless `force`. Throws KeyCollision (nothing changed) if two accounts would share a key.
// Returns the number of accounts rekeyed.
int rekey_accounts(pg::Connection& conn, LockKeyMode mode, bool force = false);

// Syntax checks; return an error message (naming the value's problem) or "" when valid.
// business_id: 1..64 chars of [A-Za-z0-9_.-]. jid: user@server with optional :device on the user
// (e.g. 15551234567@s.whatsapp.net, 15551234567:3@s.whatsapp.net, 1234@lid).
std::string validate_business_id(std::string_view business_id);
std::string validate_jid(std::string_view jid);

// wa_accounts.status values (CHECK-constrained in the schema).
inline constexpr const char* kStatuses[] = {"qr_scanning", "authenticated", "connected",
                                            "disconnected", "logged_out", "failed"};
// wa_accounts.disconnect_reason values; the same words as core::to_string(DisconnectReason).
inline constexpr const char* kDisconnectReasons[] = {"user_initiated", "instance_restart", "timeout",
                                                     "error", "qr_expired", "replaced",
                                                     "logged_out", "lock_lost", "unknown"};

// One wa_accounts row. Timestamps are Unix milliseconds (nullopt = NULL).
struct Account {
  std::string business_id;
  std::optional<std::string> jid;  // null until paired
  std::string status;              // one of kStatuses
  std::int64_t lock_key = 0;
  std::int64_t lease_epoch = 0;
  std::optional<std::string> assigned_pod;
  std::optional<std::string> previous_pod;
  std::int64_t failover_count = 0;
  std::optional<std::int64_t> last_failover_at_ms;
  std::optional<std::int64_t> last_connected_at_ms;
  std::optional<std::int64_t> last_activity_at_ms;
  std::optional<std::int64_t> disconnected_at_ms;
  std::optional<std::string> disconnect_reason;  // one of kDisconnectReasons
  std::optional<std::string> disconnect_details;
  std::int64_t session_restore_count = 0;
  int health_score = 100;  // 0..100
  std::optional<std::string> qr_code;
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
};

// Registers an account (status 'disconnected', epoch 0); its lock key is computed by the database
// under the stored mode. Validates business_id and jid (ConfigError-like StoreError on bad syntax).
// Throws AlreadyExists if business_id is registered, KeyCollision (naming the other business_id)
// if another account already has the same lock key.
// `in_transaction` (if set) runs inside the registering transaction, after the row's insert and
// before the commit (store/tenants.cpp records the tenant database with it, so no pod can lead the
// account before its database is known).
Account add_account(pg::Connection& conn, const std::string& business_id, const std::optional<std::string>& jid,
                    const std::function<void(pg::Connection&)>& in_transaction = {});

// All accounts ordered by business_id, or only those listed (unknown ids are skipped).
// Every registered business id, through the SECURITY DEFINER function wa_account_ids() (0011):
// under row-level security no account is visible before it is named.
std::vector<std::string> account_ids(pg::Connection& conn);
std::vector<Account> list_accounts(pg::Connection& conn, const std::vector<std::string>& only_business_ids = {});
std::optional<Account> get_account(pg::Connection& conn, const std::string& business_id);

// The fence token across primary failovers. Advisory locks are not replicated, and with
// asynchronous replication the last lease_epoch bump may be lost with the old primary: the leader
// granted epoch N there and a leader on the promoted node would be granted N again, so the old
// leader's fenced writes (lease_epoch = N) would pass on the new primary. So a bump moves the epoch
// into its timeline's band: epoch = max(epoch + 1, (timeline - 1) << 32). A promotion starts a new
// timeline, so the first lease on the promoted node jumps above every epoch granted on any
// earlier timeline, lost bumps included, and no two leases share a number. On timeline 1 (never
// failed over) epochs stay 1, 2, 3, ... (docs/architecture.md, "Fence token across failovers").
// SQL for the new value, with the row's lease_epoch in scope (an UPDATE's SET).
inline constexpr const char* kNextLeaseEpochSql =
    "GREATEST(lease_epoch + 1,"
    " ((('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::bigint - 1) << 32))";
// The timeline an epoch was granted on (for logs and drills): (epoch >> 32) + 1.
inline constexpr std::int64_t epoch_timeline(std::int64_t epoch) { return (epoch >> 32) + 1; }

// Run by the new leader right after it won the lock, on its lock session: lease_epoch+1 (see above),
// assigned_pod=pod, previous_pod=old assigned_pod; when the account moved from another pod (old
// assigned_pod set and different) also failover_count+1 and last_failover_at=now().
// Waits for in-flight fenced writes of the old epoch (row lock), bounded by the session's
// lock_timeout (55P03 when it runs out). Throws NotFound.
struct Lease {
  std::int64_t epoch = 0;
  std::optional<std::string> previous_pod;  // assigned_pod before this lease (may equal pod)
  bool failover = false;                    // true when previous_pod was another pod
  // previous_pod is another pod that still holds its liveness lock (advisory_lock.h): it may
  // still have the account's connection open, so the new leader waits for its notice.
  bool previous_alive = false;
  // lease_epoch before this bump: the previous holder's epoch. Not always this epoch - 1: after a
  // primary failover the epoch jumps to the new timeline's band.
  std::int64_t previous_epoch = 0;
};
Lease begin_lease(pg::Connection& conn, const std::string& business_id, const std::string& pod);

// The same as one statement for a lock session that sends it asynchronously (the send time is the
// lease proof). It only begins the lease while the account still has `lock_key` and is not
// logged out; lease_from() returns nullopt when it did not (read the account again to see why).
struct LeaseStatement {
  const char* sql;
  std::vector<pg::Param> params;
};
LeaseStatement begin_lease_statement(const std::string& business_id, const std::string& pod,
                                     std::optional<std::int64_t> lock_key);
std::optional<Lease> lease_from(const pg::Result& r, const std::string& pod);

// Leader writes, all fenced by `epoch` (EpochMoved + `refused` counted when stale). They touch
// updated_at. `conn` must not be inside a transaction.

// status must be one of kStatuses (StoreError otherwise).
void set_status(pg::Connection& conn, const std::string& business_id, std::int64_t epoch,
                std::string_view status, prometheus::Counter* refused = nullptr);
// status='connected', last_connected_at=last_activity_at=now(), disconnect fields cleared,
// qr_code cleared; `restored_session` (logged in from stored credentials) bumps session_restore_count.
void set_connected(pg::Connection& conn, const std::string& business_id, std::int64_t epoch,
                   bool restored_session, prometheus::Counter* refused = nullptr);
// disconnected_at=now(), disconnect_reason/details; status becomes `status` (default
// 'disconnected'; e.g. 'logged_out' or 'failed'). reason must be one of kDisconnectReasons.
void set_disconnected(pg::Connection& conn, const std::string& business_id, std::int64_t epoch,
                      std::string_view reason, std::string_view details,
                      std::string_view status = "disconnected", prometheus::Counter* refused = nullptr);
// last_activity_at=now() (cheap; call at most every few seconds).
void touch_activity(pg::Connection& conn, const std::string& business_id, std::int64_t epoch,
                    prometheus::Counter* refused = nullptr);
// An account and the lease epoch a write for it is made under.
struct AccountEpoch {
  std::string business_id;
  std::int64_t epoch = 0;
};
// `v` as two parallel arrays, for unnest($1::text[], $2::bigint[]) in a statement about many
// accounts; `ids` is also what the statement's TenantScope names.
struct AccountEpochArrays {
  std::vector<std::string> ids;
  std::vector<std::int64_t> epochs;
};
AccountEpochArrays to_arrays(const std::vector<AccountEpoch>& v);
// last_activity_at=now() for many accounts in one statement (a pod's led accounts, ha/activity_batch.h).
// Each row is written only if the account is still at that epoch: a stale stamp changes nothing
// and is not an error (activity is not worth fencing a client over; the lease fences it anyway).
// Returns the rows written.
std::int64_t touch_activity_batch(pg::Connection& conn, const std::vector<AccountEpoch>& stamps);
// The current QR string for any pod to serve (nullopt clears it); status='qr_scanning' when set.
void set_qr_code(pg::Connection& conn, const std::string& business_id, std::int64_t epoch,
                 const std::optional<std::string>& qr, prometheus::Counter* refused = nullptr);
void set_health_score(pg::Connection& conn, const std::string& business_id, std::int64_t epoch, int score,
                      prometheus::Counter* refused = nullptr);
// Sets (or clears, nullopt = unpaired) the jid and recomputes lock_key from it; status becomes
// 'authenticated' when set. Throws KeyCollision (nothing changed) if the new key is another
// account's. Returns the new lock key: the leader must take that lock BEFORE releasing the old one.
std::int64_t set_jid(pg::Connection& conn, const std::string& business_id, std::int64_t epoch,
                     const std::optional<std::string>& jid, prometheus::Counter* refused = nullptr);

// set_jid's work inside the caller's open transaction on `conn` (fence check under the row lock,
// registry lock, collision checks, jid + lock_key), so that other writes commit atomically with it
// (pairing stores the device keys in the same transaction). Commits nothing; logs nothing.
std::int64_t set_jid_in_transaction(pg::Connection& conn, const std::string& business_id, std::int64_t epoch,
                                    const std::optional<std::string>& jid, prometheus::Counter* refused = nullptr);

// The key the database computes for (jid, business_id) under the stored mode, without storing it.
std::int64_t compute_lock_key(pg::Connection& conn, const std::string& business_id,
                              const std::optional<std::string>& jid);

}  // namespace wa::store
