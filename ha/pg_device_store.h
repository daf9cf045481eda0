// client::DeviceStore over PostgreSQL for the account this pod leads: device keys and pre-keys
// (wa_devices, wa_device_pre_keys), the pairing QR and jid, and the connection facts in
// wa_accounts. Every write goes through the account's lease: refused locally once the supervisor
// revoked the write fence or the lease deadline passed, and by the database (epoch fence) once
// another pod began a newer lease. Refusals surface as client::StoreFenced, which stops the client.
//
// Pairing moves the account's advisory lock from hashtext('pair:'||business_id) to hashtext(jid)
// without a gap: set_paired() computes the new key, and the elector takes it, stores the jid
// (store::set_jid) and only then releases the old key (Elector::move_lock). set_paired runs on the
// client's thread and waits for the elector's; it gives up as soon as the fence is revoked, so a
// fence that destroys the client while it waits cannot deadlock.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "core/client/device_store.h"
#include "store/fenced_write.h"
#include "store/pg.h"

namespace wa::ha {

// Elector::move_lock with an abandon predicate (polled while waiting).
using LockMover = std::function<bool(const std::string& business_id, std::int64_t new_key,
                                     std::function<void()> commit, std::function<bool()> abandon)>;

struct PgDeviceStoreOptions {
  std::string database_url;
  std::string pod;
  // False once the account's lease deadline passed (the fence guard is about to fence); checked
  // before every write so a pod resuming from a stop writes nothing before it is fenced.
  std::function<bool()> lease_fresh;
  LockMover move_lock;
};

class PgDeviceStore : public client::DeviceStore {
 public:
  PgDeviceStore(PgDeviceStoreOptions options, std::string business_id, std::shared_ptr<store::WriteFence> fence);
  ~PgDeviceStore() override;

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

  // The session shared with a lock-move commit that may outlive a call that gave up waiting.
  struct Session {
    std::mutex mu;
    std::string url;
    std::string pod;
    pg::Connection conn;
    pg::Connection& get();  // (re)connects when needed; caller holds mu
  };

 private:
  // Runs a write: refused (StoreFenced) before it starts when the fence is revoked or the lease
  // is stale; store::EpochMoved from the database becomes StoreFenced as well.
  template <class F>
  void write(const char* purpose, F&& f);
  template <class F>
  auto read(const char* purpose, F&& f);

  PgDeviceStoreOptions opt_;
  std::string business_id_;
  std::shared_ptr<store::WriteFence> fence_;
  std::shared_ptr<Session> session_;
};

}  // namespace wa::ha
