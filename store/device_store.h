// client::DeviceStore over PostgreSQL for one account: the device (wa_devices), its one-time
// pre-keys (wa_device_pre_keys), the pairing QR and jid, and the connection facts (wa_accounts).
// This is THE device store; the Signal stores live next to it (store/signal_*), keyed the same way.
//
// Every write is fenced by the account's WriteFence: refused at once when the fence is revoked,
// and by the database when the lease epoch moved (checked in the write's own transaction).
// Refusals surface as client::StoreFenced, as the client contract wants.
//
// Pairing is one transaction. The client saves the paired device (save_device with the new jid)
// and then calls set_paired(jid); the store holds that device back and writes it in set_paired's
// transaction together with the account's jid and lock key, so a fence between the two calls
// leaves the account exactly as unpaired as before. A caller that must move the advisory lock in
// between (the HA layer) uses paired_lock_key() and commit_pairing() instead of set_paired().
//
// Threading: one caller at a time (the client's thread, or the elector's for commit_pairing with
// the caller's mutex held). The connection belongs to the caller, who may re-open it in place
// between calls (after a connection loss); it is used only during calls.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/client/device_store.h"
#include "store/fenced_write.h"
#include "store/pg.h"

namespace wa::store {

class PgDeviceStore final : public client::DeviceStore {
 public:
  // `data`: the account's tenant database (store/tenants.h) for the device and pre-key rows, with
  // `conn` the control database for the registry row (QR, jid, status); null: both on `conn`.
  // Each write is fenced in the database it writes to (the tenant's holds a copy of the epoch).
  PgDeviceStore(pg::Connection& conn, std::shared_ptr<const WriteFence> fence, pg::Connection* data = nullptr);

  const std::string& business_id() const { return fence_->business_id(); }

  std::optional<client::DeviceKeys> load_device() override;
  void save_device(const client::DeviceKeys& keys) override;
  std::uint32_t next_pre_key_id() override;
  // One INSERT of the whole batch (array parameters), so 812 keys cost one round trip.
  void save_pre_keys(const std::vector<client::PreKey>& keys) override;
  std::vector<client::PreKey> unuploaded_pre_keys(std::size_t limit) override;
  std::size_t uploaded_pre_key_count() override;
  void mark_pre_keys_uploaded(std::uint32_t up_to_id) override;
  void set_qr(const std::string& qr, std::chrono::system_clock::time_point expires_at) override;
  void clear_qr() override;
  // commit_pairing(jid) (no lock to move: tests, tools).
  void set_paired(const std::string& jid) override;
  void report_connected(bool resumed) override;
  void report_disconnected(core::DisconnectReason reason, const std::string& details) override;
  void report_activity() override;

  // The account's jid as the registry has it (nullopt: unpaired). A paired device whose jid the
  // account lacks is a pairing that an older version committed halfway; the HA layer repairs it.
  std::optional<std::string> account_jid();
  // The lock key `jid` will get (computed by the database under the cluster's mode; nothing
  // stored). Throws StoreError for a malformed jid.
  std::int64_t paired_lock_key(const std::string& jid);
  // The pairing transaction: fence check under the account row's lock, the held-back paired
  // device (if its jid is `jid`), the account's jid, lock key and status 'authenticated'. Returns
  // the stored lock key; `expected_key` (the key the caller already locked) must match it or
  // nothing is stored. Throws client::StoreFenced (nothing stored) when the lease is gone,
  // store::KeyCollision / AlreadyExists / StoreError / pg::Error (nothing stored) otherwise.
  std::int64_t commit_pairing(const std::string& jid,
                              std::optional<std::int64_t> expected_key = std::nullopt);

 private:
  template <class F>
  void write(const char* purpose, F&& body);
  // One fenced UPDATE/DELETE of this account's rows: `sql` has $1 = business_id, then `params`.
  void fenced_exec(const char* purpose, const char* sql, std::vector<pg::Param> params = {});
  // One number about this account's pre-keys: `sql` has $1 = business_id and returns one value.
  std::int64_t pre_key_number(const char* what, const char* sql);

  pg::Connection& data() { return data_ != nullptr ? *data_ : conn_; }
  bool split() const { return data_ != nullptr && data_ != &conn_; }

  pg::Connection& conn_;
  pg::Connection* data_;
  std::shared_ptr<const WriteFence> fence_;
  // save_device() of a device whose jid the stored device does not have yet: written by
  // commit_pairing() together with the account's jid.
  std::optional<client::DeviceKeys> paired_pending_;
};

}  // namespace wa::store
