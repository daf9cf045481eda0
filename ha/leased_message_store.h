// The message store of an account this pod leads (core/client/message_store.h), gated by the
// account's lease like ha/leased_device_store.h: store::PgSignalStore, store/inbox, store/outbox and
// store/lid_map (all the SQL, fenced by the epoch in the database) on connections borrowed from
// the pod's store pool, and
// every write refused with client::StoreFenced before it starts once the fence is revoked or the
// lease deadline passed (a pod resuming from SIGSTOP writes nothing before it is fenced).
//
// Each call borrows one pooled connection for its duration; transaction() holds one for the whole
// transaction, so a decryption's Signal writes and its inbox row share it and commit together
// (epoch-fenced in that transaction, as before). Between calls the account holds no connection.
// Calls are serialised by a mutex, so a dispatcher thread may use the outbox while the client
// thread decrypts; transaction() holds it throughout.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/client/message_store.h"
#include "ha/lease_gate.h"
#include "store/connection_pool.h"
#include "store/fenced_write.h"

namespace wa::ha {

struct LeasedMessageStoreOptions {
  // The pod's store pool (ha/store_session.h make_store_pool). Null: a private pool of one
  // connection to database_url, named waconnector/<pod>/messages.
  std::shared_ptr<store::ConnectionPool> pool;
  std::string database_url;
  std::string pod;
  // False once the account's lease deadline passed; checked before every write. Empty: always fresh.
  std::function<bool()> lease_fresh;
};

class LeasedMessageStore final : public client::MessageStore {
 public:
  // `fence` null: a read-only view (every write is refused).
  LeasedMessageStore(LeasedMessageStoreOptions options, std::string business_id,
                     std::shared_ptr<store::WriteFence> fence);
  ~LeasedMessageStore() override;
  LeasedMessageStore(const LeasedMessageStore&) = delete;
  LeasedMessageStore& operator=(const LeasedMessageStore&) = delete;

  // SignalStateStore
  signal::SignalStores signal_stores() override;
  void transaction(std::string_view purpose, const std::function<void()>& body) override;
  // InboxSink
  bool inbox_contains(const crypto::Bytes& ciphertext_hash) override;
  bool inbox_put(const client::InboxEntry& entry) override;
  // OutboxAccess (each call its own transaction: not inside transaction())
  std::vector<client::OutboxItem> claim_outbox(std::size_t limit) override;
  void release_outbox(const std::string& id) override;
  bool mark_outbox(const std::string& id, client::OutboxStatus status,
                   const std::optional<std::string>& error = std::nullopt) override;
  std::optional<client::OutboxItem> find_outbox(const std::string& id) override;
  // LidMap
  void put_lid_mapping(const std::string& lid_user, const std::string& pn_user) override;
  std::optional<std::string> lid_for_pn(const std::string& pn_user) override;
  std::optional<std::string> pn_for_lid(const std::string& lid_user) override;

  // SenderKeyRecipients
  std::vector<std::string> sender_key_devices(const std::string& group) override;
  void add_sender_key_devices(const std::string& group, const std::vector<std::string>& devices) override;

  struct Session;
  class GatedSignal;

 private:
  LeasedMessageStoreOptions opt_;
  LeaseGate gate_;
  std::unique_ptr<Session> session_;
  std::unique_ptr<GatedSignal> signal_;
};

}  // namespace wa::ha
