// The device store of an account this pod leads, gated by the account's lease: store::PgDeviceStore
// (all the SQL, fenced by the epoch in the database) on a connection borrowed from the pod's store
// pool for each call, plus what only the HA layer knows:
// - every write is refused (client::StoreFenced, which stops the client) before it starts once the
//   lease deadline passed, so a pod resuming from a stop writes nothing before it is fenced;
// - pairing moves the account's advisory lock from hashtext('pair:'||business_id) to the jid's key
//   without a gap: set_paired() computes the new key, and the elector takes it, runs the pairing
//   transaction (device keys + jid + lock key, one commit) and only then releases the old key
//   (Elector::move_lock). set_paired runs on the client's thread and waits for the elector's; it
//   gives up as soon as the fence is revoked, so a fence that destroys the client while it waits
//   cannot deadlock.
// Each call borrows a connection from the pod's store pool for its duration; a lost one is
// replaced by the pool on the next call.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/client/device_store.h"
#include "ha/activity_batch.h"
#include "ha/lease_gate.h"
#include "store/connection_pool.h"
#include "store/device_store.h"
#include "store/fenced_write.h"

namespace wa::ha {

// Elector::move_lock with an abandon predicate (polled while waiting).
using LockMover = std::function<bool(const std::string& business_id, std::int64_t new_key,
                                     std::function<void()> commit, std::function<bool()> abandon)>;

struct LeasedDeviceStoreOptions {
  // The pod's store pool (ha/store_session.h make_store_pool): each call borrows one connection.
  // Null: a private pool of one connection to database_url, named waconnector/<pod>/device.
  std::shared_ptr<store::ConnectionPool> pool;
  std::string database_url;
  // The account's tenant database pool (store/tenants.h TenantPools) for its device and pre-key
  // rows, borrowed per call like `pool`; null: none.
  std::shared_ptr<store::ConnectionPool> data_pool;
  std::string pod;
  // False once the account's lease deadline passed (the fence guard is about to fence); checked
  // before every write. Empty: always fresh (the fence alone gates).
  std::function<bool()> lease_fresh;
  // Empty: pairing stores the jid without moving a lock (tests, tools).
  LockMover move_lock;
  // The pod's activity stamps, written for every account at once (ha/activity_batch.h); null:
  // report_activity writes the account's stamp itself.
  std::shared_ptr<ActivityBatch> activity;
};

class LeasedDeviceStore : public client::DeviceStore {
 public:
  // `fence` null: a read-only view (every write is refused).
  LeasedDeviceStore(LeasedDeviceStoreOptions options, std::string business_id,
                    std::shared_ptr<store::WriteFence> fence);
  ~LeasedDeviceStore() override;

  std::optional<client::DeviceKeys> load_device() override;
  void save_device(const client::DeviceKeys& keys) override;
  std::uint32_t next_pre_key_id() override;
  void save_pre_keys(const std::vector<client::PreKey>& keys) override;
  std::vector<client::PreKey> unuploaded_pre_keys(std::size_t limit) override;
  std::size_t uploaded_pre_key_count() override;
  void mark_pre_keys_uploaded(std::uint32_t up_to_id) override;
  void set_qr(const std::string& qr, std::chrono::system_clock::time_point expires_at) override;
  void clear_qr() override;
  void set_paired(const std::string& jid) override;
  void report_connected(bool resumed) override;
  void report_disconnected(core::DisconnectReason reason, const std::string& details) override;
  void report_activity() override;

  // The session and store shared with a lock-move commit that may outlive a set_paired call that
  // gave up waiting.
  struct Session;

 private:
  template <class F>
  auto write(const char* purpose, F&& f);
  template <class F>
  auto read(F&& f);

  LeasedDeviceStoreOptions opt_;
  LeaseGate gate_;
  std::shared_ptr<Session> session_;
};

}  // namespace wa::ha
