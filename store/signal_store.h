// The Signal role stores (core/signal/signal_stores.h) over PostgreSQL for one account's device:
// sessions, identities and sender keys in the 0006 tables, one-time and signed pre-keys and the
// local identity from the device rows of 0004. Every write is fenced by the leader's WriteFence;
// a refused write throws client::StoreFenced (as the device store does), so the client stops.
//
// transaction() runs a whole decryption in ONE fenced transaction: the identity save, the session
// update, the used pre-key's removal and whatever the caller adds (the inbox row, from the
// plaintext hook) commit together or not at all.
//
// Not thread-safe: one instance per account, on the account's own connection.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/signal/signal_stores.h"
#include "store/fenced_write.h"
#include "store/pg.h"

namespace wa::store {

class PgSignalStore final : public signal::SessionStore,
                            public signal::IdentityStore,
                            public signal::PreKeyStore,
                            public signal::SignedPreKeyStore,
                            public signal::SenderKeyStore {
 public:
  // `our_jid`: the paired device JID the state belongs to (whatsmeow's our_jid).
  PgSignalStore(pg::Connection& conn, std::shared_ptr<const WriteFence> fence, std::string our_jid);

  signal::SignalStores stores() { return {*this, *this, *this, *this, *this}; }

  // Runs `body` in one fenced transaction; every write of this store made inside joins it. Throws
  // client::StoreFenced when the epoch moved (nothing committed); other exceptions roll back and
  // propagate. Not reentrant.
  void transaction(std::string_view purpose, const std::function<void(pg::Connection&)>& body);

  // SessionStore
  std::optional<signal::Bytes> load_session(const signal::Address& address) override;
  void store_session(const signal::Address& address, signal::ByteView record) override;
  bool contains_session(const signal::Address& address) override;
  bool delete_session(const signal::Address& address) override;
  std::size_t delete_all_sessions(const std::string& name) override;
  std::vector<std::uint32_t> sub_device_sessions(const std::string& name) override;
  // IdentityStore
  signal::LocalIdentity local_identity() override;
  std::optional<signal::Key32> load_identity(const signal::Address& address) override;
  void save_identity(const signal::Address& address, const signal::Key32& key) override;
  void delete_identity(const signal::Address& address) override;
  // PreKeyStore / SignedPreKeyStore
  std::optional<signal::KeyPair> load_pre_key(std::uint32_t id) override;
  void remove_pre_key(std::uint32_t id) override;
  std::optional<signal::SignedPreKeyPair> load_signed_pre_key(std::uint32_t id) override;
  // SenderKeyStore
  std::optional<signal::Bytes> load_sender_key(const signal::SenderKeyName& name) override;
  void store_sender_key(const signal::SenderKeyName& name, signal::ByteView record) override;
  // Member devices (Signal addresses) that hold our sender key for `chat` (0014).
  std::vector<std::string> sender_key_devices(const std::string& chat);
  void add_sender_key_devices(const std::string& chat, const std::vector<std::string>& devices);

 private:
  void write(std::string_view purpose, const std::function<void(pg::Connection&)>& body);
  // One fenced statement (purpose names both the fence check and the statement).
  pg::Result exec_write(std::string_view purpose, const char* sql, const std::vector<pg::Param>& params);
  // The first column of the first row, or nullopt when no row matches.
  std::optional<signal::Bytes> first_bytes(std::string_view purpose, const char* sql,
                                           const std::vector<pg::Param>& params);
  struct DeviceRow;
  const DeviceRow& device();

  pg::Connection& conn_;
  std::shared_ptr<const WriteFence> fence_;
  std::string our_jid_;
  bool in_transaction_ = false;
  std::shared_ptr<DeviceRow> device_;  // the device's own keys never change: read once
};

}  // namespace wa::store
