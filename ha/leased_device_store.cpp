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
  Session(std::string u, std::string du, std::string p, std::shared_ptr<const store::WriteFence> fence)
      : url(std::move(u)),
        data_url(std::move(du)),
        pod(std::move(p)),
        store(conn, std::move(fence), data_url.empty() ? nullptr : &data_conn) {}

  std::mutex mu;
  std::string url;
  std::string data_url;
  std::string pod;
  pg::Connection conn;
  pg::Connection data_conn;    // the tenant database's session (data_url set)
  store::PgDeviceStore store;  // uses `conn` (and `data_conn`), which connected() re-opens in place

  // Caller holds mu.
  store::PgDeviceStore& connected() {
    if (!conn.ok()) {
      conn.close();
      // Same guards as the other ha sessions, with a shorter idle-in-transaction limit (5 s).
      conn = open_store_session({url, pod, 5000, 2000, 5000}, "device");
    }
    if (!data_url.empty() && !data_conn.ok()) {
      data_conn.close();
      data_conn = open_store_session({data_url, pod, 5000, 2000, 5000}, "tenant-device");
    }
    return store;
  }

  // Runs f(store) on a live connection; a lost connection is closed for the next call to re-open.
  template <class F>
  auto run(F&& f) {
    try {
      return f(connected());
    } catch (const pg::Error& e) {
      if (e.connection_lost()) {
        conn.close();
        data_conn.close();
      }
      throw;
    }
  }
};

LeasedDeviceStore::LeasedDeviceStore(LeasedDeviceStoreOptions options, std::string business_id,
                                     std::shared_ptr<store::WriteFence> fence)
    : opt_(std::move(options)),
      gate_(std::move(business_id), std::move(fence), opt_.lease_fresh),
      session_(std::make_shared<Session>(opt_.database_url, opt_.data_database_url, opt_.pod, gate_.fence())) {}

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
  write("report activity", [](store::PgDeviceStore& s) { s.report_activity(); });
}

}  // namespace wa::ha
