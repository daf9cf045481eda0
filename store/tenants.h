// A database per tenant (optional, issue 13; docs/security.md "A database per tenant").
//
// An account listed in wa_tenants (control database, migration 0014) keeps its data plane in a
// database of its own: the device and its pre-keys, Signal sessions, identities and sender keys,
// the inbox, the outbox and the LID map. The election stays in the control database: the lock
// keys and the registry row (wa_accounts: status, QR, jid), ha_members, ha_events.
//
// Fencing across the two databases: the tenant database holds a copy of the account's registry
// row (the "shadow" row, created by prepare_tenant_database), and every lease copies its epoch
// there (copy_lease_epoch) before the leader writes anything. The stores' fenced writes on a
// tenant connection check that copy in their own transaction (fenced_write.h, unchanged: it reads
// wa_accounts FOR SHARE on the connection it is given), and the copy's UPDATE waits for in-flight
// writes of the older epoch, as begin_lease does in the control database. So once a new leader
// copied its epoch, no write of an older epoch can land in the tenant database either.
//
// The URL stored holds no password: pods read it at every connection from `password_file` (a
// mounted Secret), through pg::set_password_source (install_tenant_password_source).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "store/accounts.h"
#include "store/connection_pool.h"
#include "store/fenced_write.h"
#include "store/pg.h"

namespace wa::store {

struct TenantDatabase {
  std::string business_id;
  std::string database_url;                  // no password in it
  std::optional<std::string> password_file;  // read at every connection
};

// --- the mapping, in the control database ---

// Records (or replaces) the account's tenant database. Throws StoreError when the URL carries a
// password (the schema refuses it too), NotFound for an unknown account.
void set_tenant_database(pg::Connection& control, const TenantDatabase& t);
std::optional<TenantDatabase> tenant_database(pg::Connection& control, const std::string& business_id);
std::vector<TenantDatabase> tenant_databases(pg::Connection& control);

// --- in the tenant database ---

// `accounts add --database-url-for-tenant`: applies the migrations to the tenant database (as the
// caller's role: the schema owner, like `waconnector migrate`), copies the control database's data
// keys there (wrapped; the same ids, so a row's data_key_id means the same key in both), then
// registers the account and records its tenant database in ONE control transaction (no pod can
// lead the account before its database is known), creating the shadow registry row in the tenant
// database inside it. Throws StoreError for a URL with a password, and what add_account throws.
Account add_tenant_account(pg::Connection& control, pg::Connection& tenant, const TenantDatabase& t,
                           const std::optional<std::string>& jid);

// Copies the data keys (wrapped) from the control database into the tenant's: new ones (keys
// rotate --new-data-key) and re-wrapped ones (keys rotate). Compare-and-swap per key. Returns how
// many changed.
std::size_t sync_data_keys(pg::Connection& control, pg::Connection& tenant);

// Run by a new leader before its first write to the tenant database: raises the shadow row's
// lease_epoch to `epoch` (waiting for in-flight writes of an older epoch, which hold the row FOR
// SHARE). Throws EpochMoved when the tenant database already holds a newer epoch (this lease is
// stale), NotFound when the shadow row is missing (run `accounts add --database-url-for-tenant`).
void copy_lease_epoch(pg::Connection& tenant, const std::string& business_id, std::int64_t epoch);

// The leader's relay of a tenant account's account.* events (status, leader; written by the
// control database's registry trigger) into its tenant database, where the account's SSE stream
// and webhooks read events: up to `limit` events after the cursor kept in the shadow row, copied
// with their ids (wa_relay_event: a repeat adds nothing) and their webhook deliveries, the cursor
// moved in the same fenced transaction. Returns how many were new. Throws EpochMoved once `fence`
// is stale. Message events are written in the tenant database itself and never copied.
std::size_t relay_account_events(pg::Connection& control, pg::Connection& tenant, const WriteFence& fence,
                                 int limit = 100);

// `accounts remove`: deletes the account's shadow row in its tenant database and with it (foreign
// keys ON DELETE CASCADE) every data row there: device, pre-keys, Signal state, inbox, outbox, LID
// map, events, webhooks and deliveries. Returns false when there was none. The data keys copied
// there stay (other accounts of the same database may use them; they are wrapped by the KEK).
bool remove_tenant_account(pg::Connection& tenant, const std::string& business_id);

// The tenant URLs' passwords for pg::Connection::open: every URL of `tenants` is answered from its
// password file (read at every connection). Replaces the registered set.
void register_tenant_passwords(const std::vector<TenantDatabase>& tenants);
void register_tenant_password(const TenantDatabase& t);
void install_tenant_password_source();

// Per-tenant connection pools of one pod: opened on demand, closed when idle, bounded. Each
// tenant database gets its own small store::ConnectionPool (at most `per_tenant` connections, idle
// ones closed after `idle_timeout`); the stores of a led account keep its pool and borrow from it
// per call, exactly like the pod's control store pool. At most `max_tenants` pools exist at once:
// an unreferenced one unused for `idle_timeout` is dropped on the next call, the least recently
// used unreferenced one makes room, and when every pool is referenced by a led account a new
// tenant database is refused (pg::Error, not a lost connection). Thread-safe.
struct TenantPoolOptions {
  std::string application_name = "waconnector/tenant";
  std::size_t per_tenant = 2;  // max connections per tenant database (idle + lent)
  std::size_t max_tenants = 32;
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds acquire_timeout{5000};
  // As PoolOptions: libpq "options" and a check on every new connection (the schema window).
  std::string session_options;
  std::function<void(pg::Connection&)> on_open;
};

class TenantPools {
 public:
  explicit TenantPools(TenantPoolOptions options = {});

  // The tenant database's pool (opened on demand; kept while the caller holds it).
  std::shared_ptr<ConnectionPool> pool(const TenantDatabase& t);

  template <typename Fn>
  auto with(const TenantDatabase& t, Fn&& fn) {
    auto p = pool(t);
    return p->with(std::forward<Fn>(fn));
  }

  std::size_t open_pools() const;
  // Connections open to every tenant database (idle + lent).
  std::size_t open_connections() const;
  // Drops the unreferenced pools unused for idle_timeout (also done on each call).
  void close_idle();

 private:
  struct Entry {
    std::shared_ptr<ConnectionPool> pool;
    std::chrono::steady_clock::time_point last_used;
  };
  void close_idle_locked(std::chrono::steady_clock::time_point now);

  TenantPoolOptions opt_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> pools_;  // by database URL
};

// An account's tenant database and the pod's pool for it.
struct TenantLease : TenantDatabase {
  std::shared_ptr<ConnectionPool> pool;
};

// What a pod runs at each lease of an account (before the leader's first write): finds the
// account's tenant database in the control database and, if it has one, syncs the data keys and
// copies the lease epoch there through the per-tenant pools. Thread-safe.
class TenantLeases {
 public:
  TenantLeases(std::string control_url, std::string application_name, TenantPoolOptions pools = {});
  // On the pod's control-database store pool (no connection of its own).
  TenantLeases(std::shared_ptr<ConnectionPool> control, TenantPoolOptions pools = {});

  // nullopt: the account keeps everything in the control database. Throws EpochMoved when the
  // tenant database holds a newer epoch, pg::Error / StoreError when it cannot be reached or
  // prepared (the client does not start; the supervisor retries as for any store failure).
  std::optional<TenantLease> begin(const std::string& business_id, std::int64_t epoch);
  // The account's tenant database and pool without a lease (the API's reads, the outbox gauge,
  // the webhook sender); nullopt: none.
  std::optional<TenantLease> find(const std::string& business_id);
  // Every registered tenant database, with its pool (opened on demand).
  std::vector<TenantLease> all();
  // The pool that holds the account's data rows (inbox, outbox, events, webhooks): its tenant
  // database's pool, or the control pool given at construction (null for the URL constructor).
  // A tenant mapping is remembered once seen (it never changes while the account exists); "no
  // tenant" is asked again every time, so an account registered a moment ago is never misrouted.
  std::shared_ptr<ConnectionPool> data_pool(const std::string& business_id);
  // The same for many accounts with one query (the leader's rounds): only the accounts that have a
  // tenant database are in the answer.
  std::map<std::string, std::shared_ptr<ConnectionPool>> tenant_pools(
      const std::vector<std::string>& business_ids);
  // The same on a control connection the caller holds already.
  std::map<std::string, std::shared_ptr<ConnectionPool>> tenant_pools(
      pg::Connection& control, const std::vector<std::string>& business_ids);
  TenantPools& pools() { return pools_; }

 private:
  std::shared_ptr<ConnectionPool> control_;
  TenantPools pools_;
  std::mutex known_mu_;
  std::map<std::string, TenantDatabase> known_;  // business_id -> its tenant database
};

}  // namespace wa::store
