#include "ha/pg_device_store.h"

#include <fmt/format.h>

#include "common/log.h"
#include "common/mask.h"
#include "store/accounts.h"
#include "store/errors.h"

namespace wa::ha {
namespace {

using client::DeviceKeys;
using client::PreKey;
using client::StoreFenced;

crypto::Key32 key32(const std::vector<std::uint8_t>& b, const char* what) {
  return crypto::key32_from(crypto::ByteView(b.data(), b.size()), what);
}

std::vector<std::uint8_t> vec(const crypto::Key32& k) { return {k.begin(), k.end()}; }

std::int64_t unix_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// Health: what an operator's dashboard sorts by; 100 = live session, 0 = needs a human.
int health_for(core::DisconnectReason r) {
  switch (r) {
    case core::DisconnectReason::logged_out: return 0;
    case core::DisconnectReason::replaced: return 20;
    case core::DisconnectReason::qr_expired: return 30;
    default: return 50;
  }
}

constexpr std::size_t kMaxDetails = 1000;

}  // namespace

pg::Connection& PgDeviceStore::Session::get() {
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
                                 {"options", "-c statement_timeout=5000"}});
  }
  return conn;
}

PgDeviceStore::PgDeviceStore(PgDeviceStoreOptions options, std::string business_id,
                             std::shared_ptr<store::WriteFence> fence)
    : opt_(std::move(options)), business_id_(std::move(business_id)), fence_(std::move(fence)),
      session_(std::make_shared<Session>()) {
  session_->url = opt_.database_url;
  session_->pod = opt_.pod;
  if (!fence_) fence_ = std::make_shared<store::WriteFence>(business_id_, -1);
}

PgDeviceStore::~PgDeviceStore() = default;

template <class F>
void PgDeviceStore::write(const char* purpose, F&& f) {
  if (fence_->revoked())
    throw StoreFenced(fmt::format("{} for business {}: this pod no longer leads (fence revoked)", purpose, business_id_));
  if (opt_.lease_fresh && !opt_.lease_fresh())
    throw StoreFenced(fmt::format("{} for business {}: lease deadline passed", purpose, business_id_));
  std::lock_guard lk(session_->mu);
  try {
    f(session_->get());
  } catch (const store::EpochMoved& e) {
    throw StoreFenced(e.what());
  } catch (const pg::Error& e) {
    if (e.connection_lost()) session_->conn.close();
    throw;
  }
}

template <class F>
auto PgDeviceStore::read(const char* /*purpose*/, F&& f) {
  std::lock_guard lk(session_->mu);
  try {
    return f(session_->get());
  } catch (const pg::Error& e) {
    if (e.connection_lost()) session_->conn.close();
    throw;
  }
}

std::optional<DeviceKeys> PgDeviceStore::load_device() {
  return read("load device", [&](pg::Connection& c) -> std::optional<DeviceKeys> {
    auto r = c.exec("load device keys",
                    "SELECT noise_priv, identity_priv, signed_pre_key_id, signed_pre_key_priv, signed_pre_key_sig,"
                    " registration_id, adv_secret, jid, lid, account, platform, business_name, push_name"
                    " FROM wa_devices WHERE business_id = $1 AND usable",
                    {business_id_});
    if (r.rows() == 0) return std::nullopt;
    DeviceKeys d;
    d.noise_key = crypto::KeyPair::from_private(key32(r.bytes(0, 0), "noise key"));
    d.identity_key = crypto::KeyPair::from_private(key32(r.bytes(0, 1), "identity key"));
    d.signed_pre_key.id = static_cast<std::uint32_t>(r.i64(0, 2));
    d.signed_pre_key.pair = crypto::KeyPair::from_private(key32(r.bytes(0, 3), "signed pre-key"));
    d.signed_pre_key.signature = r.bytes(0, 4);
    d.registration_id = static_cast<std::uint32_t>(r.i64(0, 5));
    d.adv_secret = key32(r.bytes(0, 6), "adv secret");
    d.jid = r.opt(0, 7).value_or("");
    d.lid = r.opt(0, 8).value_or("");
    if (!r.is_null(0, 9)) d.account = r.bytes(0, 9);
    d.platform = std::string(r.text(0, 10));
    d.business_name = std::string(r.text(0, 11));
    d.push_name = std::string(r.text(0, 12));
    return d;
  });
}

void PgDeviceStore::save_device(const DeviceKeys& d) {
  write("save device", [&](pg::Connection& c) {
    fence_->write(c, "save device keys", [&](pg::Connection& tx) {
      // A new device (other noise key) starts without the old device's pre-keys.
      tx.exec("drop pre-keys of a replaced device",
              "DELETE FROM wa_device_pre_keys WHERE business_id = $1 AND EXISTS"
              " (SELECT 1 FROM wa_devices WHERE business_id = $1 AND noise_priv <> $2)",
              {business_id_, pg::Param::bytes(vec(d.noise_key.priv))});
      tx.exec("store device keys",
              "INSERT INTO wa_devices (business_id, noise_priv, identity_priv, signed_pre_key_id, signed_pre_key_priv,"
              " signed_pre_key_sig, registration_id, adv_secret, jid, lid, account, platform, business_name, push_name)"
              " VALUES ($1, $2, $3, $4::integer, $5, $6, $7::bigint, $8, $9, $10, $11, $12, $13, $14)"
              " ON CONFLICT (business_id) DO UPDATE SET noise_priv = EXCLUDED.noise_priv,"
              " identity_priv = EXCLUDED.identity_priv, signed_pre_key_id = EXCLUDED.signed_pre_key_id,"
              " signed_pre_key_priv = EXCLUDED.signed_pre_key_priv, signed_pre_key_sig = EXCLUDED.signed_pre_key_sig,"
              " registration_id = EXCLUDED.registration_id, adv_secret = EXCLUDED.adv_secret, jid = EXCLUDED.jid,"
              " lid = EXCLUDED.lid, account = EXCLUDED.account, platform = EXCLUDED.platform,"
              " business_name = EXCLUDED.business_name, push_name = EXCLUDED.push_name, usable = true,"
              " updated_at = now()",
              {business_id_, pg::Param::bytes(vec(d.noise_key.priv)), pg::Param::bytes(vec(d.identity_key.priv)),
               static_cast<std::int64_t>(d.signed_pre_key.id), pg::Param::bytes(vec(d.signed_pre_key.pair.priv)),
               pg::Param::bytes(d.signed_pre_key.signature), static_cast<std::int64_t>(d.registration_id),
               pg::Param::bytes(vec(d.adv_secret)), d.jid.empty() ? pg::Param() : pg::Param(d.jid),
               d.lid.empty() ? pg::Param() : pg::Param(d.lid), d.account.empty() ? pg::Param() : pg::Param::bytes(d.account),
               d.platform, d.business_name, d.push_name});
    });
  });
}

std::uint32_t PgDeviceStore::next_pre_key_id() {
  return read("next pre-key id", [&](pg::Connection& c) {
    auto r = c.exec("next pre-key id", "SELECT coalesce(max(key_id), 0) + 1 FROM wa_device_pre_keys WHERE business_id = $1",
                    {business_id_});
    return static_cast<std::uint32_t>(r.i64(0, 0));
  });
}

void PgDeviceStore::save_pre_keys(const std::vector<PreKey>& keys) {
  if (keys.empty()) return;
  write("save pre-keys", [&](pg::Connection& c) {
    fence_->write(c, "store pre-keys", [&](pg::Connection& tx) {
      for (const auto& k : keys)
        tx.exec("store one pre-key",
                "INSERT INTO wa_device_pre_keys (business_id, key_id, priv, uploaded) VALUES ($1, $2::integer, $3, $4)"
                " ON CONFLICT (business_id, key_id) DO UPDATE SET priv = EXCLUDED.priv, uploaded = EXCLUDED.uploaded",
                {business_id_, static_cast<std::int64_t>(k.id), pg::Param::bytes(vec(k.pair.priv)), k.uploaded});
    });
  });
}

std::vector<PreKey> PgDeviceStore::unuploaded_pre_keys(std::size_t limit) {
  return read("unuploaded pre-keys", [&](pg::Connection& c) {
    auto r = c.exec("load pre-keys not yet uploaded",
                    "SELECT key_id, priv FROM wa_device_pre_keys WHERE business_id = $1 AND NOT uploaded"
                    " ORDER BY key_id LIMIT $2::bigint",
                    {business_id_, static_cast<std::int64_t>(limit)});
    std::vector<PreKey> out;
    for (int i = 0; i < r.rows(); ++i) {
      PreKey k;
      k.id = static_cast<std::uint32_t>(r.i64(i, 0));
      k.pair = crypto::KeyPair::from_private(key32(r.bytes(i, 1), "pre-key"));
      out.push_back(std::move(k));
    }
    return out;
  });
}

std::size_t PgDeviceStore::uploaded_pre_key_count() {
  return read("uploaded pre-key count", [&](pg::Connection& c) {
    auto r = c.exec("count uploaded pre-keys", "SELECT count(*) FROM wa_device_pre_keys WHERE business_id = $1 AND uploaded",
                    {business_id_});
    return static_cast<std::size_t>(r.i64(0, 0));
  });
}

void PgDeviceStore::mark_pre_keys_uploaded(std::uint32_t up_to_id) {
  write("mark pre-keys uploaded", [&](pg::Connection& c) {
    fence_->write(c, "mark pre-keys uploaded", [&](pg::Connection& tx) {
      tx.exec("mark pre-keys uploaded",
              "UPDATE wa_device_pre_keys SET uploaded = true WHERE business_id = $1 AND key_id <= $2::integer",
              {business_id_, static_cast<std::int64_t>(up_to_id)});
    });
  });
}

void PgDeviceStore::set_qr(const std::string& qr, std::chrono::system_clock::time_point expires_at) {
  write("store QR", [&](pg::Connection& c) {
    fence_->write(c, "store QR code", [&](pg::Connection& tx) {
      tx.exec("store QR code",
              "UPDATE wa_accounts SET qr_code = $2, qr_expires_at = to_timestamp($3::bigint / 1000.0),"
              " status = 'qr_scanning', updated_at = now() WHERE business_id = $1",
              {business_id_, qr, unix_ms(expires_at)});
    });
  });
}

void PgDeviceStore::clear_qr() {
  write("clear QR", [&](pg::Connection& c) {
    fence_->write(c, "clear QR code", [&](pg::Connection& tx) {
      tx.exec("clear QR code",
              "UPDATE wa_accounts SET qr_code = NULL, qr_expires_at = NULL, updated_at = now() WHERE business_id = $1",
              {business_id_});
    });
  });
}

void PgDeviceStore::set_paired(const std::string& jid) {
  if (auto err = store::validate_jid(jid); !err.empty())
    throw store::StoreError(fmt::format("paired jid of business {}: {}", business_id_, err));
  std::int64_t new_key = 0;
  write("compute the paired lock key", [&](pg::Connection& c) { new_key = store::compute_lock_key(c, business_id_, jid); });
  if (!opt_.move_lock) {
    write("store paired jid", [&](pg::Connection& c) { store::set_jid(c, business_id_, fence_->epoch(), jid); });
    return;
  }
  // The commit runs on the elector's thread and may outlive this call (we stop waiting once
  // fenced), so it owns what it touches.
  auto session = session_;
  auto fence = fence_;
  auto id = business_id_;
  auto commit = [session, fence, id, jid, new_key] {
    if (fence->revoked()) throw StoreFenced(fmt::format("store paired jid for business {}: fence revoked", id));
    std::lock_guard lk(session->mu);
    std::int64_t stored = 0;
    try {
      stored = store::set_jid(session->get(), id, fence->epoch(), jid);
    } catch (const store::EpochMoved& e) {
      throw StoreFenced(e.what());
    }
    if (stored != new_key)
      throw store::StoreError(fmt::format("business {}: lock key changed while pairing (cluster lock-key mode changed?)", id));
  };
  const bool moved = opt_.move_lock(business_id_, new_key, commit, [fence] { return fence->revoked(); });
  if (!moved)
    throw StoreFenced(fmt::format("pairing of business {}: the lock could not be moved to the paired jid's key "
                                  "(no longer leading, or the key is held elsewhere)", business_id_));
  wa::log::info("account_paired").kv("business_id", business_id_).kv("jid", mask_jid(jid)).kv("epoch", fence_->epoch());
}

void PgDeviceStore::report_connected(bool resumed) {
  write("report connected", [&](pg::Connection& c) {
    store::set_connected(c, business_id_, fence_->epoch(), resumed);
    store::set_health_score(c, business_id_, fence_->epoch(), 100);
  });
}

void PgDeviceStore::report_disconnected(core::DisconnectReason reason, const std::string& details) {
  const bool logged_out = reason == core::DisconnectReason::logged_out;
  const std::string d = details.size() > kMaxDetails ? details.substr(0, kMaxDetails) : details;
  write("report disconnect", [&](pg::Connection& c) {
    if (logged_out) {
      // Credentials unusable and the account out of the competition, in one transaction.
      fence_->write(c, "mark logged out", [&](pg::Connection& tx) {
        tx.exec("mark device unusable", "UPDATE wa_devices SET usable = false, updated_at = now() WHERE business_id = $1",
                {business_id_});
        tx.exec("record logout",
                "UPDATE wa_accounts SET status = 'logged_out', disconnected_at = now(), disconnect_reason = 'logged_out',"
                " disconnect_details = $2, health_score = 0, qr_code = NULL, qr_expires_at = NULL, updated_at = now()"
                " WHERE business_id = $1",
                {business_id_, d});
      });
      return;
    }
    store::set_disconnected(c, business_id_, fence_->epoch(), core::to_string(reason), d);
    store::set_health_score(c, business_id_, fence_->epoch(), health_for(reason));
  });
}

void PgDeviceStore::report_activity() {
  write("report activity", [&](pg::Connection& c) { store::touch_activity(c, business_id_, fence_->epoch()); });
}

}  // namespace wa::ha
