#include "store/device_store.h"

#include <fmt/format.h>

#include "common/log.h"
#include "common/mask.h"
#include "store/accounts.h"
#include "store/errors.h"
#include "store/pairing.h"
#include "store/sealing.h"

namespace wa::store {
namespace {

using client::DeviceKeys;
using client::PreKey;
using client::StoreFenced;

crypto::Key32 key32(const std::vector<std::uint8_t>& b, const char* what) {
  return crypto::key32_from(crypto::ByteView(b.data(), b.size()), what);
}

std::vector<std::uint8_t> vec(const crypto::Key32& k) {
  return {k.begin(), k.end()};
}

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

// Inside a transaction: the device row (the old device's pre-keys go when the keys change). The
// keys are sealed (store/sealing.h), so "changed" is decided on the opened noise key.
void upsert_device(pg::Connection& tx, const std::string& business_id, const DeviceKeys& d) {
  namespace col = sealed_column;
  auto cur = tx.exec("read the stored noise key",
                     "SELECT noise_priv, data_key_id FROM wa_devices WHERE business_id = $1", {business_id});
  if (cur.rows() > 0 && open_column(tx, key_id_at(cur, 0, 1), business_id, col::kNoisePriv,
                                    cur.bytes(0, 0)) != vec(d.noise_key.priv))
    tx.exec("drop pre-keys of a replaced device", "DELETE FROM wa_device_pre_keys WHERE business_id = $1",
            {business_id});
  const RowSealer seal(tx, business_id);
  tx.exec(
      "store device keys",
      "INSERT INTO wa_devices (business_id, noise_priv, identity_priv, signed_pre_key_id, "
      "signed_pre_key_priv,"
      " signed_pre_key_sig, registration_id, adv_secret, jid, lid, account, platform, business_name, "
      "push_name, data_key_id)"
      " VALUES ($1, $2, $3, $4::integer, $5, $6, $7::bigint, $8, $9, $10, $11, $12, $13, $14, $15::integer)"
      " ON CONFLICT (business_id) DO UPDATE SET noise_priv = EXCLUDED.noise_priv,"
      " identity_priv = EXCLUDED.identity_priv, signed_pre_key_id = EXCLUDED.signed_pre_key_id,"
      " signed_pre_key_priv = EXCLUDED.signed_pre_key_priv, signed_pre_key_sig = EXCLUDED.signed_pre_key_sig,"
      " registration_id = EXCLUDED.registration_id, adv_secret = EXCLUDED.adv_secret, jid = EXCLUDED.jid,"
      " lid = EXCLUDED.lid, account = EXCLUDED.account, platform = EXCLUDED.platform,"
      " business_name = EXCLUDED.business_name, push_name = EXCLUDED.push_name, usable = true,"
      " data_key_id = EXCLUDED.data_key_id, updated_at = now()",
      {business_id, seal.seal(col::kNoisePriv, d.noise_key.priv),
       seal.seal(col::kIdentityPriv, d.identity_key.priv), static_cast<std::int64_t>(d.signed_pre_key.id),
       seal.seal(col::kSignedPreKeyPriv, d.signed_pre_key.pair.priv),
       pg::Param::bytes(d.signed_pre_key.signature), static_cast<std::int64_t>(d.registration_id),
       seal.seal(col::kAdvSecret, d.adv_secret), d.jid.empty() ? pg::Param() : pg::Param(d.jid),
       d.lid.empty() ? pg::Param() : pg::Param(d.lid),
       d.account.empty() ? pg::Param() : pg::Param::bytes(d.account), d.platform, d.business_name,
       d.push_name, seal.key_id()});
}

}  // namespace

PgDeviceStore::PgDeviceStore(pg::Connection& conn, std::shared_ptr<const WriteFence> fence, pg::Connection* data)
    : conn_(conn), data_(data), fence_(std::move(fence)) {
  if (!fence_) throw StoreError("device store: a write fence is required");
}

template <class F>
void PgDeviceStore::write(const char* purpose, F&& body) {
  try {
    if (fence_->revoked())
      refuse_write(business_id(), fence_->epoch(), std::nullopt, purpose, fence_->refused_counter());
    body();
  } catch (const EpochMoved& e) {
    throw StoreFenced(e.what());
  }
}

std::optional<DeviceKeys> PgDeviceStore::load_device() {
  pg::TenantScope tenant(data(), business_id());
  auto r = data().exec(
      fmt::format("load device keys of business {}", business_id()),
      "SELECT noise_priv, identity_priv, signed_pre_key_id, signed_pre_key_priv, signed_pre_key_sig,"
      " registration_id, adv_secret, jid, lid, account, platform, business_name, push_name, data_key_id"
      " FROM wa_devices WHERE business_id = $1 AND usable",
      {business_id()});
  if (r.rows() == 0) return std::nullopt;
  const auto key_id = key_id_at(r, 0, 13);
  const auto open = [&](int col, const char* column) {
    return open_column(data(), key_id, business_id(), column, r.bytes(0, col));
  };
  DeviceKeys d;
  d.noise_key = crypto::KeyPair::from_private(key32(open(0, sealed_column::kNoisePriv), "noise key"));
  d.identity_key =
      crypto::KeyPair::from_private(key32(open(1, sealed_column::kIdentityPriv), "identity key"));
  d.signed_pre_key.id = static_cast<std::uint32_t>(r.i64(0, 2));
  d.signed_pre_key.pair =
      crypto::KeyPair::from_private(key32(open(3, sealed_column::kSignedPreKeyPriv), "signed pre-key"));
  d.signed_pre_key.signature = r.bytes(0, 4);
  d.registration_id = static_cast<std::uint32_t>(r.i64(0, 5));
  d.adv_secret = key32(open(6, sealed_column::kAdvSecret), "adv secret");
  d.jid = r.opt(0, 7).value_or("");
  d.lid = r.opt(0, 8).value_or("");
  if (!r.is_null(0, 9)) d.account = r.bytes(0, 9);
  d.platform = std::string(r.text(0, 10));
  d.business_name = std::string(r.text(0, 11));
  d.push_name = std::string(r.text(0, 12));
  return d;
}

void PgDeviceStore::save_device(const DeviceKeys& d) {
  pg::TenantScope tenant(data(), business_id());
  write("save device keys", [&] {
    if (!d.jid.empty()) {
      // A jid the stored device does not have yet comes from pair-success: it is stored with
      // the account's jid by commit_pairing(), never on its own.
      auto cur = data().exec(fmt::format("read the stored device jid of business {}", business_id()),
                            "SELECT jid FROM wa_devices WHERE business_id = $1 AND usable", {business_id()});
      if (cur.rows() == 0 || cur.opt(0, 0) != d.jid) {
        paired_pending_ = d;
        return;
      }
    }
    fence_->write(data(), "save device keys",
                  [&](pg::Connection& tx) { upsert_device(tx, business_id(), d); });
  });
}

std::int64_t PgDeviceStore::pre_key_number(const char* what, const char* sql) {
  pg::TenantScope tenant(data(), business_id());
  return data().exec(fmt::format("{} of business {}", what, business_id()), sql, {business_id()}).i64(0, 0);
}

std::uint32_t PgDeviceStore::next_pre_key_id() {
  return static_cast<std::uint32_t>(pre_key_number(
      "next pre-key id", "SELECT coalesce(max(key_id), 0) + 1 FROM wa_device_pre_keys WHERE business_id = $1"));
}

void PgDeviceStore::save_pre_keys(const std::vector<PreKey>& keys) {
  pg::TenantScope tenant(data(), business_id());
  if (keys.empty()) return;
  std::vector<std::int64_t> ids;
  std::vector<crypto::Bytes> privs;
  std::vector<bool> uploaded;
  ids.reserve(keys.size());
  privs.reserve(keys.size());
  uploaded.reserve(keys.size());
  for (const auto& k : keys) {
    ids.push_back(static_cast<std::int64_t>(k.id));
    uploaded.push_back(k.uploaded);
  }
  write("store pre-keys", [&] {
    fence_->write(data(), "store pre-keys", [&](pg::Connection& tx) {
      const RowSealer seal(tx, business_id());
      privs.clear();
      for (const auto& k : keys) privs.push_back(seal.seal_bytes(sealed_column::kPreKeyPriv, k.pair.priv));
      tx.exec(fmt::format("store {} pre-keys of business {}", keys.size(), business_id()),
              "INSERT INTO wa_device_pre_keys (business_id, key_id, priv, uploaded, data_key_id)"
              " SELECT $1, k.key_id, k.priv, k.uploaded, $5::integer"
              " FROM unnest($2::integer[], $3::bytea[], $4::boolean[]) AS k(key_id, priv, uploaded)"
              " ON CONFLICT (business_id, key_id) DO UPDATE SET priv = EXCLUDED.priv, uploaded = "
              "EXCLUDED.uploaded, data_key_id = EXCLUDED.data_key_id",
              {business_id(), pg::Param::array(ids), pg::Param::bytea_array(privs),
               pg::Param::bool_array(uploaded), seal.key_id()});
    });
  });
}

std::vector<PreKey> PgDeviceStore::unuploaded_pre_keys(std::size_t limit) {
  pg::TenantScope tenant(data(), business_id());
  auto r = data().exec(
      fmt::format("load pre-keys not yet uploaded of business {}", business_id()),
      "SELECT key_id, priv, data_key_id FROM wa_device_pre_keys WHERE business_id = $1 AND NOT uploaded"
      " ORDER BY key_id LIMIT $2::bigint",
      {business_id(), static_cast<std::int64_t>(limit)});
  std::vector<PreKey> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    PreKey k;
    k.id = static_cast<std::uint32_t>(r.i64(i, 0));
    k.pair = crypto::KeyPair::from_private(key32(
        open_column(data(), key_id_at(r, i, 2), business_id(), sealed_column::kPreKeyPriv, r.bytes(i, 1)),
        "pre-key"));
    out.push_back(std::move(k));
  }
  return out;
}

std::size_t PgDeviceStore::uploaded_pre_key_count() {
  return static_cast<std::size_t>(pre_key_number(
      "count uploaded pre-keys", "SELECT count(*) FROM wa_device_pre_keys WHERE business_id = $1 AND uploaded"));
}

void PgDeviceStore::mark_pre_keys_uploaded(std::uint32_t up_to_id) {
  pg::TenantScope tenant(data(), business_id());
  write("mark pre-keys uploaded", [&] {
    fence_->write(data(), "mark pre-keys uploaded", [&](pg::Connection& tx) {
      tx.exec(
          "mark pre-keys uploaded",
          "UPDATE wa_device_pre_keys SET uploaded = true WHERE business_id = $1 AND key_id <= $2::integer",
          {business_id(), static_cast<std::int64_t>(up_to_id)});
    });
  });
}

void PgDeviceStore::fenced_exec(const char* purpose, const char* sql, std::vector<pg::Param> params) {
  params.insert(params.begin(), pg::Param(business_id()));
  pg::TenantScope tenant(conn_, business_id());
  write(purpose, [&] {
    fence_->write(conn_, purpose, [&](pg::Connection& tx) { tx.exec(purpose, sql, params); });
  });
}

void PgDeviceStore::set_qr(const std::string& qr, std::chrono::system_clock::time_point expires_at) {
  fenced_exec("store QR code",
              "UPDATE wa_accounts SET qr_code = $2, qr_expires_at = to_timestamp($3::bigint / 1000.0),"
              " status = 'qr_scanning', updated_at = now() WHERE business_id = $1",
              {qr, unix_ms(expires_at)});
}

void PgDeviceStore::clear_qr() {
  fenced_exec("clear QR code",
              "UPDATE wa_accounts SET qr_code = NULL, qr_expires_at = NULL, updated_at = now() WHERE business_id = $1");
}

std::optional<std::string> PgDeviceStore::account_jid() {
  pg::TenantScope tenant(conn_, business_id());
  auto r = conn_.exec(fmt::format("read the jid of business {}", business_id()),
                      "SELECT jid FROM wa_accounts WHERE business_id = $1", {business_id()});
  return r.rows() == 0 ? std::nullopt : r.opt(0, 0);
}

std::int64_t PgDeviceStore::paired_lock_key(const std::string& jid) {
  pg::TenantScope tenant(conn_, business_id());
  if (auto err = validate_jid(jid); !err.empty())
    throw StoreError(fmt::format("paired jid of business {}: {}", business_id(), err));
  return compute_lock_key(conn_, business_id(), jid);
}

std::int64_t PgDeviceStore::commit_pairing(const std::string& jid, std::optional<std::int64_t> expected_key) {
  pg::TenantScope tenant(conn_, business_id());
  if (auto err = validate_jid(jid); !err.empty())
    throw StoreError(fmt::format("paired jid of business {}: {}", business_id(), err));
  std::int64_t key = 0;
  const bool device_pending = paired_pending_ && paired_pending_->jid == jid;
  if (device_pending && split()) {
    // A tenant database: the device first, fenced there; then the registry. Fenced in between,
    // the device holds a jid the account lacks, which the next leader reconciles (set_paired
    // again, ha/leased_device_store.cpp) instead of pairing anew.
    pg::TenantScope data_tenant(data(), business_id());
    write("store the paired device", [&] {
      fence_->write(data(), "store the paired device",
                    [&](pg::Connection& tx) { upsert_device(tx, business_id(), *paired_pending_); });
    });
  }
  write("store the pairing", [&] {
    pg::Transaction tx(conn_, fmt::format("store the pairing of business {}", business_id()));
    // Fence check under the account row's lock (taken after the registry lock), so neither a
    // new lease nor another jid change can interleave.
    key = set_jid_in_transaction(conn_, business_id(), fence_->epoch(), jid, fence_->refused_counter());
    if (expected_key && key != *expected_key)
      throw StoreError(
          fmt::format("pairing of business {}: the jid's lock key is {}, not the {} the lock was moved "
                      "to (did the cluster's lock-key mode change?)",
                      business_id(), key, *expected_key));
    if (device_pending && !split()) upsert_device(conn_, business_id(), *paired_pending_);
    record_pairing_in_transaction(conn_, business_id(), jid, fence_->epoch());
    tx.commit();
  });
  paired_pending_.reset();
  log::info("account_paired")
      .kv("business_id", business_id())
      .kv("jid", mask_jid(jid))
      .kv("epoch", fence_->epoch())
      .kv("lock_key", key);
  return key;
}

void PgDeviceStore::set_paired(const std::string& jid) {
  commit_pairing(jid);
}

void PgDeviceStore::report_connected(bool resumed) {
  pg::TenantScope tenant(conn_, business_id());
  write("report connected", [&] {
    set_connected(conn_, business_id(), fence_->epoch(), resumed, fence_->refused_counter());
    set_health_score(conn_, business_id(), fence_->epoch(), 100, fence_->refused_counter());
  });
}

void PgDeviceStore::report_disconnected(core::DisconnectReason reason, const std::string& details) {
  pg::TenantScope tenant(conn_, business_id());
  const std::string d = details.size() > kMaxDetails ? details.substr(0, kMaxDetails) : details;
  write("report disconnect", [&] {
    if (reason == core::DisconnectReason::logged_out) {
      // Credentials unusable and the account out of the competition, in one transaction (two
      // with a tenant database: the device first, so a fence in between leaves it unusable).
      const auto unusable = [&](pg::Connection& tx) {
        tx.exec("mark device unusable",
                "UPDATE wa_devices SET usable = false, updated_at = now() WHERE business_id = $1",
                {business_id()});
      };
      if (split()) {
        pg::TenantScope data_tenant(data(), business_id());
        fence_->write(data(), "mark device unusable", unusable);
      }
      fence_->write(conn_, "mark logged out", [&](pg::Connection& tx) {
        if (!split()) unusable(tx);
        tx.exec("record logout",
                "UPDATE wa_accounts SET status = 'logged_out', disconnected_at = now(), disconnect_reason = "
                "'logged_out',"
                " disconnect_details = $2, health_score = 0, qr_code = NULL, qr_expires_at = NULL, "
                "updated_at = now()"
                " WHERE business_id = $1",
                {business_id(), d});
        end_pairing_in_transaction(tx, business_id(), "logged_out");
      });
      return;
    }
    set_disconnected(conn_, business_id(), fence_->epoch(), core::to_string(reason), d, "disconnected",
                     fence_->refused_counter());
    set_health_score(conn_, business_id(), fence_->epoch(), health_for(reason), fence_->refused_counter());
  });
}

void PgDeviceStore::report_activity() {
  pg::TenantScope tenant(conn_, business_id());
  write("report activity",
        [&] { touch_activity(conn_, business_id(), fence_->epoch(), fence_->refused_counter()); });
}

}  // namespace wa::store
