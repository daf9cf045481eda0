// What a WhatsApp client needs from the shared store, for one account (business_id), as small
// role interfaces (whatsmeow's store.go style) composed into DeviceStore. core/ knows nothing of
// PostgreSQL: store/ implements them over the business_id-partitioned device tables and the
// account registry, and ha/ gates every write by the account's lease. The Signal stores
// (sessions, identities, sender keys) are separate roles in core/signal/signal_stores.h.
//
// Contract for implementations:
// - Every write may throw. StoreFenced means the lease epoch moved (another pod leads now); any
//   other exception is a store failure. The client reacts to both by stopping at once: it closes
//   its socket and makes no further writes (see WaClient).
// - Calls come from the client's own thread, one at a time; they may block on the database.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "core/client/device.h"
#include "core/connection.h"

namespace wa::client {

// A store write was refused because this pod's lease epoch is no longer current.
using StoreFenced = wa::Error<struct StoreFencedTag>;

// The account's companion device: its keys, and after pairing its jid/lid/account signature.
class DeviceKeyStore {
 public:
  virtual ~DeviceKeyStore() = default;
  // The account's device, or nullopt when none was created yet (or the phone logged it out).
  virtual std::optional<DeviceKeys> load_device() = 0;
  // Inserts or replaces the account's device (keys and, after pairing, jid/lid/account/...).
  // A device whose jid the stored device does not have yet (pair-success's) may be held back and
  // stored by the PairingStore::set_paired(jid) that follows, in the same commit as the account's
  // jid (the PostgreSQL store does this).
  virtual void save_device(const DeviceKeys& keys) = 0;
};

// One-time pre-keys (e2e reference §2.2): generation and upload bookkeeping. The Signal side
// (load / remove one key while decrypting) is a role of core/signal/signal_stores.h.
class PreKeyStore {
 public:
  virtual ~PreKeyStore() = default;
  // Highest pre-key id ever stored + 1 (1 when none).
  virtual std::uint32_t next_pre_key_id() = 0;
  // Stores freshly generated keys (uploaded = false), all or none.
  virtual void save_pre_keys(const std::vector<PreKey>& keys) = 0;
  // Up to `limit` stored keys not yet uploaded, lowest id first.
  virtual std::vector<PreKey> unuploaded_pre_keys(std::size_t limit) = 0;
  // Number of stored keys marked uploaded.
  virtual std::size_t uploaded_pre_key_count() = 0;
  // Marks every stored key with id <= up_to_id as uploaded.
  virtual void mark_pre_keys_uploaded(std::uint32_t up_to_id) = 0;
};

// Pairing: the QR every pod serves (wa_accounts.qr_code etc.) and the result of pair-success.
class PairingStore {
 public:
  virtual ~PairingStore() = default;
  virtual void set_qr(const std::string& qr, std::chrono::system_clock::time_point expires_at) = 0;
  virtual void clear_qr() = 0;
  // The phone paired this device: the account's jid is now `jid` (device JID). The paired
  // device (the last save_device() with this jid), the account's jid and its lock key are stored
  // together: either all of them or, when refused or failed, none, so an account is never left
  // half paired.
  virtual void set_paired(const std::string& jid) = 0;
};

// Connection facts (wa_accounts tracking fields).
class ConnectionReporter {
 public:
  virtual ~ConnectionReporter() = default;
  // <success> received. `resumed` = logged in from stored credentials (not right after pairing):
  // the implementation increments session_restore_count then. Sets last_connected_at.
  virtual void report_connected(bool resumed) = 0;
  // The connection ended (also transient ends that are followed by a reconnect). reason
  // logged_out means the credentials are unusable now: the implementation marks the account so
  // that no pod competes for it until it is paired again.
  virtual void report_disconnected(core::DisconnectReason reason, const std::string& details) = 0;
  // Traffic seen (last_activity_at). The client calls this at most once a minute.
  virtual void report_activity() = 0;
};

// Everything one client uses, from one object (whatsmeow's store.Device).
class DeviceStore : public DeviceKeyStore,
                    public PreKeyStore,
                    public PairingStore,
                    public ConnectionReporter {};

// Gives the client of account `business_id` its store.
using DeviceStoreProvider = std::function<std::unique_ptr<DeviceStore>(const std::string& business_id)>;

}  // namespace wa::client
