#include "ha/leased_device_store.h"

#include <mutex>

#include <fmt/format.h>

#include "common/log.h"
#include "ha/store_session.h"
#include "store/errors.h"
#include "store/pg.h"

namespace wa::ha {

using client::StoreFenced;

struct LeasedDeviceStore::Session {
  Session(std::shared_ptr<store::ConnectionPool> p, std::shared_ptr<store::ConnectionPool> dp,
          std::shared_ptr<const store::WriteFence> fence)
      : pool(std::move(p)),
        data_pool(std::move(dp)),
        store(conn, std::move(fence), data_pool ? &data_conn : nullptr) {}

  std::mutex mu;
  std::shared_ptr<store::ConnectionPool> pool;
  std::shared_ptr<store::ConnectionPool> data_pool;  // the tenant database's (null: none)
  pg::Connection conn;                               // a pooled connection, lent for one call at a time
  pg::Connection data_conn;                          // the same from the tenant pool (data_pool set)
  store::PgDeviceStore store;                        // uses `conn` (and `data_conn`)

  // Runs f(store) on connections lent by the pod's store pool (and the account's tenant pool) for
  // this call only (so connections per pod do not grow with accounts); a lost one is dropped by
  // its pool. Caller holds mu.
  template <class F>
  auto run(F&& f) {
    pool->lend(conn);
    struct GiveBack {
      store::ConnectionPool& p;
      pg::Connection& c;
      ~GiveBack() { p.give_back(c); }
    } give_back{*pool, conn};
    if (!data_pool) return f(store);
    data_pool->lend(data_conn);
    GiveBack give_back_data{*data_pool, data_conn};
    return f(store);
  }
};

LeasedDeviceStore::LeasedDeviceStore(LeasedDeviceStoreOptions options, std::string business_id,
                                     std::shared_ptr<store::WriteFence> fence)
    : opt_(std::move(options)),
      gate_(std::move(business_id), std::move(fence), opt_.lease_fresh),
      session_(std::make_shared<Session>(
          // Same guards as the other ha sessions, with a shorter idle-in-transaction limit (5 s).
          pool_or_own({opt_.database_url, opt_.pod, 5000, 2000, 5000, opt_.pool}, "device"), opt_.data_pool,
          gate_.fence())) {}

LeasedDeviceStore::~LeasedDeviceStore() = default;

template <class F>
auto LeasedDeviceStore::write(const char* purpose, F&& f) {
  gate_.check(purpose);
  std::lock_guard lk(session_->mu);
  return session_->run(std::forward<F>(f));
}

template <class F>
auto LeasedDeviceStore::read(F&& f) {
  std::lock_guard lk(session_->mu);
  return session_->run(std::forward<F>(f));
}

std::optional<client::DeviceKeys> LeasedDeviceStore::load_device() {
  auto d = read([](store::PgDeviceStore& s) { return s.load_device(); });
  if (!d || !d->paired() || gate_.fence()->revoked()) return d;
  // Reconciliation at the lease: a device paired while the account row kept no jid (a pairing
  // that an older version committed in two steps, fenced in between) gets its jid and lock key
  // now, through the same lock move as a pairing.
  if (read([](store::PgDeviceStore& s) { return s.account_jid(); }) == d->jid) return d;
  wa::log::warn("pairing_reconcile")
      .kv("business_id", gate_.business_id())
      .kv("epoch", gate_.fence()->epoch());
  try {
    set_paired(d->jid);
  } catch (const StoreFenced&) {
    throw;
  } catch (const std::exception& e) {
    // E.g. the jid is registered for another account: an operator must decide; the device
    // itself still works, as before.
    wa::log::error("pairing_reconcile_failed").kv("business_id", gate_.business_id()).kv("error", e.what());
  }
  return d;
}

void LeasedDeviceStore::save_device(const client::DeviceKeys& keys) {
  write("save device", [&](store::PgDeviceStore& s) { s.save_device(keys); });
}

std::uint32_t LeasedDeviceStore::next_pre_key_id() {
  return read([](store::PgDeviceStore& s) { return s.next_pre_key_id(); });
}

void LeasedDeviceStore::save_pre_keys(const std::vector<client::PreKey>& keys) {
  write("save pre-keys", [&](store::PgDeviceStore& s) { s.save_pre_keys(keys); });
}

std::vector<client::PreKey> LeasedDeviceStore::unuploaded_pre_keys(std::size_t limit) {
  return read([&](store::PgDeviceStore& s) { return s.unuploaded_pre_keys(limit); });
}

std::size_t LeasedDeviceStore::uploaded_pre_key_count() {
  return read([](store::PgDeviceStore& s) { return s.uploaded_pre_key_count(); });
}

void LeasedDeviceStore::mark_pre_keys_uploaded(std::uint32_t up_to_id) {
  write("mark pre-keys uploaded", [&](store::PgDeviceStore& s) { s.mark_pre_keys_uploaded(up_to_id); });
}

void LeasedDeviceStore::set_qr(const std::string& qr, std::chrono::system_clock::time_point expires_at) {
  write("store QR", [&](store::PgDeviceStore& s) { s.set_qr(qr, expires_at); });
}

void LeasedDeviceStore::clear_qr() {
  write("clear QR", [](store::PgDeviceStore& s) { s.clear_qr(); });
}

void LeasedDeviceStore::set_paired(const std::string& jid) {
  const auto new_key =
      write("compute the paired lock key", [&](store::PgDeviceStore& s) { return s.paired_lock_key(jid); });
  if (!opt_.move_lock) {
    write("store the pairing", [&](store::PgDeviceStore& s) { s.commit_pairing(jid); });
    return;
  }
  // The commit runs on the elector's thread and may outlive this call (we stop waiting once
  // fenced), so it owns what it touches.
  auto session = session_;
  auto fence = gate_.fence();
  auto id = gate_.business_id();
  auto commit = [session, fence, id, jid, new_key] {
    if (fence->revoked())
      throw StoreFenced(fmt::format("store the pairing of business {}: fence revoked", id));
    std::lock_guard lk(session->mu);
    session->run([&](store::PgDeviceStore& s) { s.commit_pairing(jid, new_key); });
  };
  const bool moved =
      opt_.move_lock(gate_.business_id(), new_key, commit, [fence] { return fence->revoked(); });
  if (!moved)
    throw StoreFenced(
        fmt::format("pairing of business {}: the lock could not be moved to the paired jid's key "
                    "(no longer leading, or the key is held elsewhere)",
                    gate_.business_id()));
}

void LeasedDeviceStore::report_connected(bool resumed) {
  write("report connected", [&](store::PgDeviceStore& s) { s.report_connected(resumed); });
}

void LeasedDeviceStore::report_disconnected(core::DisconnectReason reason, const std::string& details) {
  write("report disconnect", [&](store::PgDeviceStore& s) { s.report_disconnected(reason, details); });
}

void LeasedDeviceStore::report_activity() {
  if (opt_.activity) {
    // Refused like a write once the lease is stale; the stamp itself goes out with the pod's next
    // member beat, with every other led account's (one statement, issue 10).
    gate_.check("report activity");
    opt_.activity->note(gate_.business_id(), gate_.fence()->epoch());
    return;
  }
  write("report activity", [](store::PgDeviceStore& s) { s.report_activity(); });
}

}  // namespace wa::ha
