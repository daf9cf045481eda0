// The stores the Signal protocol needs, one interface per role (whatsmeow store/store.go:
// IdentityStore, SessionStore, PreKeyStore, SenderKeyStore), for one account. core/ knows nothing
// of PostgreSQL: store/ implements these over business_id-keyed tables, tests keep them in memory.
//
// Contract for implementations (the same as core/client/device_store.h):
// - Every method may throw. client::StoreFenced (or the store's own fencing error) means the lease
//   epoch moved and this pod no longer leads the account; any other exception is a store failure.
//   The Signal layer never swallows them: the libsignal call is abandoned and the very exception is
//   rethrown to the caller (core/signal/protocol_store.h), who stops the client.
// - Calls come from the account's client thread, one at a time; they may block on the database.
// - Records are libsignal-protocol-c's own serialized protobufs (RecordStructure,
//   SenderKeyRecordStructure): opaque bytes to the store, not compatible with whatsmeow's or
//   Baileys' blobs (e2e reference §8.4).
// - Addresses are Signal addresses (core/signal/address.h); their string form "name:device" is the
//   natural key.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "core/crypto/bytes.h"
#include "core/crypto/x25519.h"
#include "core/signal/address.h"

namespace wa::signal {

using crypto::Bytes;
using crypto::ByteView;
using crypto::Key32;
using crypto::KeyPair;

class SessionStore {
 public:
  virtual ~SessionStore() = default;
  // The session record for `address`, or nullopt when there is none.
  virtual std::optional<Bytes> load_session(const Address& address) = 0;
  // Inserts or replaces the record.
  virtual void store_session(const Address& address, ByteView record) = 0;
  virtual bool contains_session(const Address& address) = 0;
  // Returns whether a session was deleted.
  virtual bool delete_session(const Address& address) = 0;
  // Deletes every device's session of `name`; returns how many.
  virtual std::size_t delete_all_sessions(const std::string& name) = 0;
  // Device ids other than 1 with a session for `name` (libsignal's "sub-device" sessions).
  virtual std::vector<std::uint32_t> sub_device_sessions(const std::string& name) = 0;
};

// The account's own identity (created with the device, e2e reference §1.3).
struct LocalIdentity {
  KeyPair identity;
  std::uint32_t registration_id = 0;
};

class IdentityStore {
 public:
  virtual ~IdentityStore() = default;
  virtual LocalIdentity local_identity() = 0;
  // A contact's identity key (32 bytes, without the 0x05 type byte, as whatsmeow stores it).
  virtual std::optional<Key32> load_identity(const Address& address) = 0;
  // Inserts or replaces.
  virtual void save_identity(const Address& address, const Key32& key) = 0;
  virtual void delete_identity(const Address& address) = 0;
};

// One-time pre-keys of this device: a pkmsg names the one it used, which is then removed. Creating
// and uploading them is the device store's job (core/client/device_store.h).
class PreKeyStore {
 public:
  virtual ~PreKeyStore() = default;
  virtual std::optional<KeyPair> load_pre_key(std::uint32_t id) = 0;
  virtual void remove_pre_key(std::uint32_t id) = 0;
};

struct SignedPreKeyPair {
  std::uint32_t id = 0;
  KeyPair pair;
  Bytes signature;  // 64 bytes, XEdDSA by the identity key over 0x05 || pair.pub
};

class SignedPreKeyStore {
 public:
  virtual ~SignedPreKeyStore() = default;
  virtual std::optional<SignedPreKeyPair> load_signed_pre_key(std::uint32_t id) = 0;
};

class SenderKeyStore {
 public:
  virtual ~SenderKeyStore() = default;
  virtual std::optional<Bytes> load_sender_key(const SenderKeyName& name) = 0;
  // Inserts or replaces.
  virtual void store_sender_key(const SenderKeyName& name, ByteView record) = 0;
};

// What the protocol adapter needs; the references must outlive it. One object may implement
// several roles (and usually does).
struct SignalStores {
  SessionStore& sessions;
  IdentityStore& identities;
  PreKeyStore& pre_keys;
  SignedPreKeyStore& signed_pre_keys;
  SenderKeyStore& sender_keys;
};

// A contact's identity key changed (reinstalled app, new phone). whatsmeow trusts the new key
// (AutoTrustIdentity) and emits events.IdentityChange; we do the same: the new key is accepted and
// saved, the session continues, and the handler hears about it (never silently).
struct IdentityChange {
  Address address;
  Key32 previous{};
  Key32 current{};
};

}  // namespace wa::signal
