#include "ha/leased_device_store.h"

#include <mutex>

#include <fmt/format.h>

#include "common/log.h"
#include "store/errors.h"
#include "store/pg.h"

namespace wa::ha {

using client::StoreFenced;

struct LeasedDeviceStore::Session {
  Session(std::string u, std::string p, std::shared_ptr<const store::WriteFence> fence)
      : url(std::move(u)), pod(std::move(p)), store(conn, std::move(fence)) {}

  std::mutex mu;
  std::string url;
  std::string pod;
  pg::Connection conn;
  store::PgDeviceStore store;  // uses `conn`, which connected() re-opens in place

  // Caller holds mu.
  store::PgDeviceStore& connected() {
    if (!conn.ok()) {
      conn.close();
      conn = pg::Connection::open(url, "device store session",
                                  {{"application_name", fmt::format("waconnector/{}/device", pod)},
                                   {"connect_timeout", "3"},
                                   {"keepalives", "1"},
                                   {"keepalives_idle", "1"},
                                   {"keepalives_interval", "1"},
                                   {"keepalives_count", "3"},
                                   {"tcp_user_timeout", "3000"},
                                   {"options", "-c statement_timeout=5000 -c lock_timeout=2000"
                                                " -c idle_in_transaction_session_timeout=5000"}});
    }
    return store;
  }

  // Runs f(store) on a live connection; a lost connection is closed for the next call to re-open.
  template <class F>
  auto run(F&& f) {
    try {
      return f(connected());
    } catch (const pg::Error& e) {
      if (e.connection_lost()) conn.close();
      throw;
    }
  }
};

LeasedDeviceStore::LeasedDeviceStore(LeasedDeviceStoreOptions options, std::string business_id,
                                     std::shared_ptr<store::WriteFence> fence)
    : opt_(std::move(options)), business_id_(std::move(business_id)), fence_(std::move(fence)) {
  if (!fence_) {
    fence_ = std::make_shared<store::WriteFence>(business_id_, -1);
    fence_->revoke();
  }
  session_ = std::make_shared<Session>(opt_.database_url, opt_.pod, fence_);
}

LeasedDeviceStore::~LeasedDeviceStore() = default;

template <class F>
auto LeasedDeviceStore::write(const char* purpose, F&& f) {
  if (fence_->revoked())
    throw StoreFenced(
        fmt::format("{} for business {}: this pod no longer leads (fence revoked)", purpose, business_id_));
  if (opt_.lease_fresh && !opt_.lease_fresh())
    throw StoreFenced(fmt::format("{} for business {}: lease deadline passed", purpose, business_id_));
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
  if (!d || !d->paired() || fence_->revoked()) return d;
  // Reconciliation at the lease: a device paired while the account row kept no jid (a pairing
  // that an older version committed in two steps, fenced in between) gets its jid and lock key
  // now, through the same lock move as a pairing.
  if (read([](store::PgDeviceStore& s) { return s.account_jid(); }) == d->jid) return d;
  wa::log::warn("pairing_reconcile").kv("business_id", business_id_).kv("epoch", fence_->epoch());
  try {
    set_paired(d->jid);
  } catch (const StoreFenced&) {
    throw;
  } catch (const std::exception& e) {
    // E.g. the jid is registered for another account: an operator must decide; the device
    // itself still works, as before.
    wa::log::error("pairing_reconcile_failed").kv("business_id", business_id_).kv("error", e.what());
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
  auto fence = fence_;
  auto id = business_id_;
  auto commit = [session, fence, id, jid, new_key] {
    if (fence->revoked())
      throw StoreFenced(fmt::format("store the pairing of business {}: fence revoked", id));
    std::lock_guard lk(session->mu);
    session->run([&](store::PgDeviceStore& s) { s.commit_pairing(jid, new_key); });
  };
  const bool moved = opt_.move_lock(business_id_, new_key, commit, [fence] { return fence->revoked(); });
  if (!moved)
    throw StoreFenced(
        fmt::format("pairing of business {}: the lock could not be moved to the paired jid's key "
                    "(no longer leading, or the key is held elsewhere)",
                    business_id_));
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
