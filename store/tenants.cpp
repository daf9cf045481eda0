#include "store/tenants.h"

#include <fstream>
#include <iterator>

#include <fmt/format.h>

#include "common/log.h"
#include "store/accounts.h"
#include "store/errors.h"
#include "store/events.h"
#include "store/fenced_write.h"
#include "store/migrator.h"
#include "store/row.h"

namespace wa::store {
namespace {

constexpr const char* kColumns = "business_id, database_url, password_file";

TenantDatabase tenant_row(const pg::Result& r, int i) {
  return {std::string(r.text(i, 0)), std::string(r.text(i, 1)), r.opt(i, 2)};
}

std::mutex g_passwords_mu;
std::map<std::string, std::optional<std::string>> g_passwords;  // URL -> password file

std::string read_password_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw pg::Error(fmt::format("tenant database: cannot read its password file {}", path), "28P01")
        .set_connection_lost(true);
  std::string pw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!pw.empty() && (pw.back() == '\n' || pw.back() == '\r')) pw.pop_back();
  return pw;
}

}  // namespace

void set_tenant_database(pg::Connection& control, const TenantDatabase& t) {
  pg::TenantScope tenant(control, t.business_id);
  const auto purpose = fmt::format("record the tenant database of business {}", t.business_id);
  if (control.exec(purpose, "SELECT 1 FROM wa_accounts WHERE business_id = $1", {t.business_id}).rows() == 0)
    throw NotFound(fmt::format("business {} is not registered", t.business_id));
  control.exec(purpose,
               "INSERT INTO wa_tenants (business_id, database_url, password_file) VALUES ($1, $2, $3)"
               " ON CONFLICT (business_id) DO UPDATE SET database_url = EXCLUDED.database_url,"
               " password_file = EXCLUDED.password_file",
               {t.business_id, t.database_url, pg::Param(t.password_file)});
}

std::optional<TenantDatabase> tenant_database(pg::Connection& control, const std::string& business_id) {
  pg::TenantScope tenant(control, business_id);
  auto r = control.exec(
      fmt::format("read the tenant database of business {}", business_id),
      (std::string("SELECT ") + kColumns + " FROM wa_tenants WHERE business_id = $1").c_str(), {business_id});
  if (r.rows() == 0) return std::nullopt;
  return tenant_row(r, 0);
}

std::vector<TenantDatabase> tenant_databases(pg::Connection& control) {
  pg::TenantScope tenant(control, account_ids(control));
  auto r =
      control.exec("list the tenant databases",
                   (std::string("SELECT ") + kColumns + " FROM wa_tenants ORDER BY business_id").c_str());
  return pg::read_rows<TenantDatabase>(r, tenant_row);
}

Account add_tenant_account(pg::Connection& control, pg::Connection& tenant, const TenantDatabase& t,
                           const std::optional<std::string>& jid) {
  migrate(tenant);
  sync_data_keys(control, tenant);
  return add_account(control, t.business_id, jid, [&](pg::Connection& tx) {
    const auto purpose = fmt::format("record the tenant database of business {}", t.business_id);
    tx.exec(purpose, "INSERT INTO wa_tenants (business_id, database_url, password_file) VALUES ($1, $2, $3)",
            {t.business_id, t.database_url, pg::Param(t.password_file)});
    const auto key =
        tx.exec(purpose, "SELECT lock_key FROM wa_accounts WHERE business_id = $1", {t.business_id});
    pg::TenantScope scope(tenant, t.business_id);
    // The shadow row: the foreign keys of the data rows point at it, and it carries the lease
    // epoch copy. The jid, status and QR stay in the control database's row.
    tenant.exec(fmt::format("create the shadow registry row of business {}", t.business_id),
                "INSERT INTO wa_accounts (business_id, lock_key) VALUES ($1, $2::bigint)"
                " ON CONFLICT (business_id) DO NOTHING",
                {t.business_id, key.i64(0, 0)});
  });
}

std::size_t sync_data_keys(pg::Connection& control, pg::Connection& tenant) {
  auto keys = control.exec("read the data keys", "SELECT id, kek_id, wrapped FROM wa_data_keys ORDER BY id");
  std::size_t changed = 0;
  for (int i = 0; i < keys.rows(); ++i) {
    // Insert a missing key; take a re-wrapped one. The key itself never changes (same id, same
    // key), so the copy is safe in any order and from any pod.
    auto r = tenant.exec(
        "copy a data key",
        "INSERT INTO wa_data_keys (id, kek_id, wrapped) VALUES ($1::integer, $2, $3)"
        " ON CONFLICT (id) DO UPDATE SET kek_id = EXCLUDED.kek_id, wrapped = EXCLUDED.wrapped,"
        " rewrapped_at = now()"
        " WHERE wa_data_keys.kek_id <> EXCLUDED.kek_id OR wa_data_keys.wrapped <> EXCLUDED.wrapped"
        " RETURNING 1",
        {keys.i64(i, 0), std::string(keys.text(i, 1)), pg::Param::bytes(keys.bytes(i, 2))});
    changed += static_cast<std::size_t>(r.rows());
  }
  return changed;
}

void copy_lease_epoch(pg::Connection& tenant, const std::string& business_id, std::int64_t epoch) {
  pg::TenantScope scope(tenant, business_id);
  const auto purpose =
      fmt::format("copy the lease epoch of business {} into its tenant database", business_id);
  pg::Transaction tx(tenant, purpose);
  // Not an account.leader event of the tenant database's own (migration 0014): the control
  // database's is relayed (relay_account_events).
  tenant.exec(purpose, "SELECT set_config('waconnector.epoch_copy', 'on', true)");
  // FOR UPDATE waits for every in-flight fenced write (FOR SHARE) of an older epoch.
  auto r = tenant.exec(purpose, "SELECT lease_epoch FROM wa_accounts WHERE business_id = $1 FOR UPDATE",
                       {business_id});
  if (r.rows() == 0)
    throw NotFound(
        fmt::format("{}: the tenant database has no row for it (run `waconnector accounts add "
                    "--database-url-for-tenant` again to prepare it)",
                    purpose));
  const auto current = r.i64(0, 0);
  if (current > epoch)
    throw EpochMoved(
        fmt::format("{}: it holds epoch {} already, newer than this lease's {}", purpose, current, epoch),
        business_id, epoch, current);
  if (current < epoch)
    tenant.exec(purpose,
                "UPDATE wa_accounts SET lease_epoch = $2::bigint, updated_at = now() WHERE business_id = $1",
                {business_id, epoch});
  tx.commit();
}

std::size_t relay_account_events(pg::Connection& control, pg::Connection& tenant, const WriteFence& fence,
                                 int limit) {
  const auto& business_id = fence.business_id();
  EventCursor cursor;
  {
    pg::TenantScope scope(tenant, business_id);
    auto r =
        tenant.exec(fmt::format("read the relayed-events cursor of business {}", business_id),
                    "SELECT relayed_events_tx, relayed_events_seq FROM wa_accounts WHERE business_id = $1",
                    {business_id});
    if (r.rows() == 0) return 0;
    cursor = {std::string(r.text(0, 0)), r.i64(0, 1)};
  }
  const auto events = read_events(control, business_id, cursor, limit);
  if (events.empty()) return 0;
  std::size_t added = 0;
  pg::TenantScope scope(tenant, business_id);
  fence.write(tenant, "relay account events", [&](pg::Connection& tx) {
    for (const auto& e : events) {
      if (e.type.rfind("account.", 0) != 0) continue;  // message events are the tenant's own
      auto r = tx.exec("relay an account event",
                       "SELECT wa_relay_event($1, $2, $3, $4::jsonb, to_timestamp($5::bigint / 1000.0))",
                       {e.id, business_id, e.type, e.data, e.created_at_ms});
      if (std::string_view(r.text(0, 0)) == "t") ++added;
    }
    tx.exec("move the relayed-events cursor",
            "UPDATE wa_accounts SET relayed_events_tx = $2, relayed_events_seq = $3::bigint WHERE "
            "business_id = $1",
            {business_id, events.back().cursor.tx, events.back().cursor.seq});
  });
  return added;
}

bool remove_tenant_account(pg::Connection& tenant, const std::string& business_id) {
  pg::TenantScope scope(tenant, business_id);
  return tenant
             .exec(fmt::format("delete business {} from its tenant database", business_id),
                   "DELETE FROM wa_accounts WHERE business_id = $1 RETURNING 1", {business_id})
             .rows() == 1;
}

void register_tenant_password(const TenantDatabase& t) {
  std::lock_guard lk(g_passwords_mu);
  g_passwords[t.database_url] = t.password_file;
}

void register_tenant_passwords(const std::vector<TenantDatabase>& tenants) {
  std::lock_guard lk(g_passwords_mu);
  g_passwords.clear();
  for (const auto& t : tenants) g_passwords[t.database_url] = t.password_file;
}

void install_tenant_password_source() {
  pg::set_password_source([](const std::string& url) -> std::optional<std::string> {
    std::optional<std::string> file;
    {
      std::lock_guard lk(g_passwords_mu);
      auto it = g_passwords.find(url);
      if (it == g_passwords.end() || !it->second) return std::nullopt;
      file = it->second;
    }
    return read_password_file(*file);
  });
}

// --- per-tenant pools ---

TenantPools::TenantPools(TenantPoolOptions options) : opt_(std::move(options)) {}

void TenantPools::close_idle_locked(std::chrono::steady_clock::time_point now) {
  for (auto it = pools_.begin(); it != pools_.end();) {
    // A pool a led account's store keeps is not dropped (its own idle_timeout closes its idle
    // connections); one nobody keeps goes with its connections.
    if (it->second.pool.use_count() == 1 && now - it->second.last_used >= opt_.idle_timeout) {
      log::info("tenant_pool_closed").kv("reason", "idle");
      it = pools_.erase(it);
    } else {
      ++it;
    }
  }
}

std::shared_ptr<ConnectionPool> TenantPools::pool(const TenantDatabase& t) {
  register_tenant_password(t);
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lk(mu_);
  close_idle_locked(now);
  auto it = pools_.find(t.database_url);
  if (it == pools_.end()) {
    if (pools_.size() >= opt_.max_tenants) {
      // Make room: the least recently used pool nobody keeps goes (its connections close with it).
      auto lru = pools_.end();
      for (auto i = pools_.begin(); i != pools_.end(); ++i)
        if (i->second.pool.use_count() == 1 &&
            (lru == pools_.end() || i->second.last_used < lru->second.last_used))
          lru = i;
      if (lru == pools_.end())
        throw pg::Error(
            fmt::format("tenant database of business {}: {} tenant databases are in use by this pod "
                        "already (the per-pod bound)",
                        t.business_id, opt_.max_tenants),
            "53000");
      log::info("tenant_pool_closed").kv("reason", "max_tenants");
      pools_.erase(lru);
    }
    PoolOptions p;
    p.url = t.database_url;
    p.application_name = opt_.application_name;
    p.size = opt_.per_tenant;
    p.connect_timeout_s = 3;
    p.session_options = opt_.session_options;
    p.acquire_timeout = opt_.acquire_timeout;
    p.idle_timeout = opt_.idle_timeout;
    p.on_open = opt_.on_open;
    it = pools_.emplace(t.database_url, Entry{std::make_shared<ConnectionPool>(std::move(p)), now}).first;
    log::info("tenant_pool_opened").kv("business_id", t.business_id);
  }
  it->second.last_used = now;
  return it->second.pool;
}

std::size_t TenantPools::open_pools() const {
  std::lock_guard lk(mu_);
  return pools_.size();
}

std::size_t TenantPools::open_connections() const {
  std::lock_guard lk(mu_);
  std::size_t n = 0;
  for (const auto& [url, e] : pools_) n += e.pool->open_connections();
  return n;
}

void TenantPools::close_idle() {
  std::lock_guard lk(mu_);
  close_idle_locked(std::chrono::steady_clock::now());
}

namespace {
PoolOptions control_pool_options(std::string url, std::string application_name) {
  PoolOptions p;
  p.url = std::move(url);
  p.application_name = std::move(application_name);
  p.size = 1;
  p.idle_timeout = std::chrono::minutes(1);
  return p;
}
}  // namespace

TenantLeases::TenantLeases(std::string control_url, std::string application_name, TenantPoolOptions pools)
    : control_(std::make_shared<ConnectionPool>(
          control_pool_options(std::move(control_url), std::move(application_name)))),
      pools_(std::move(pools)) {}

TenantLeases::TenantLeases(std::shared_ptr<ConnectionPool> control, TenantPoolOptions pools)
    : control_(std::move(control)), pools_(std::move(pools)) {}

std::optional<TenantLease> TenantLeases::begin(const std::string& business_id, std::int64_t epoch) {
  return control_->with([&](pg::Connection& control) -> std::optional<TenantLease> {
    auto t = tenant_database(control, business_id);
    if (!t) return std::nullopt;
    TenantLease l{*t, pools_.pool(*t)};
    l.pool->with([&](pg::Connection& tenant) {
      sync_data_keys(control, tenant);
      copy_lease_epoch(tenant, business_id, epoch);
    });
    log::info("tenant_lease_copied").kv("business_id", business_id).kv("epoch", epoch);
    return l;
  });
}

std::optional<TenantLease> TenantLeases::find(const std::string& business_id) {
  auto t = control_->with([&](pg::Connection& control) { return tenant_database(control, business_id); });
  if (!t) return std::nullopt;
  return TenantLease{*t, pools_.pool(*t)};
}

std::shared_ptr<ConnectionPool> TenantLeases::data_pool(const std::string& business_id) {
  std::optional<TenantDatabase> t;
  {
    std::lock_guard lk(known_mu_);
    if (auto it = known_.find(business_id); it != known_.end()) t = it->second;
  }
  if (!t) {
    t = control_->with([&](pg::Connection& control) { return tenant_database(control, business_id); });
    if (!t) return control_;
    std::lock_guard lk(known_mu_);
    known_[business_id] = *t;
  }
  return pools_.pool(*t);
}

std::map<std::string, std::shared_ptr<ConnectionPool>> TenantLeases::tenant_pools(
    const std::vector<std::string>& business_ids) {
  if (business_ids.empty()) return {};
  return control_->with([&](pg::Connection& control) { return tenant_pools(control, business_ids); });
}

std::map<std::string, std::shared_ptr<ConnectionPool>> TenantLeases::tenant_pools(
    pg::Connection& control, const std::vector<std::string>& business_ids) {
  std::map<std::string, std::shared_ptr<ConnectionPool>> out;
  if (business_ids.empty()) return out;
  std::vector<TenantDatabase> rows;
  {
    pg::TenantScope scope(control, business_ids);
    auto r = control.exec(
        "list the tenant databases of the led accounts",
        (std::string("SELECT ") + kColumns + " FROM wa_tenants WHERE business_id = ANY($1::text[])").c_str(),
        {pg::Param::array(business_ids)});
    rows = pg::read_rows<TenantDatabase>(r, tenant_row);
  }
  for (const auto& t : rows) {
    {
      std::lock_guard lk(known_mu_);
      known_[t.business_id] = t;
    }
    out[t.business_id] = pools_.pool(t);
  }
  return out;
}

std::vector<TenantLease> TenantLeases::all() {
  auto ts = control_->with([&](pg::Connection& control) { return tenant_databases(control); });
  std::vector<TenantLease> out;
  out.reserve(ts.size());
  for (auto& t : ts) out.push_back(TenantLease{t, pools_.pool(t)});
  return out;
}

}  // namespace wa::store
