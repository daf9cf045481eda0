// What a WhatsApp client needs from the shared store, for one account (business_id). core/ knows
// nothing of PostgreSQL: the HA layer implements this over the business_id-partitioned device
// tables and the account registry, with every write fenced by the current lease epoch.
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
#include <stdexcept>
#include <string>
#include <vector>

#include "core/client/device.h"
#include "core/connection.h"

namespace wa::client {

// A store write was refused because this pod's lease epoch is no longer current.
class StoreFenced : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class DeviceStore {
 public:
  virtual ~DeviceStore() = default;

  // --- device keys ---
  // The account's device, or nullopt when none was created yet.
  virtual std::optional<DeviceKeys> load_device() = 0;
  // Inserts or replaces the account's device (keys and, after pairing, jid/lid/account/...).
  virtual void save_device(const DeviceKeys& keys) = 0;

  // --- one-time pre-keys (e2e reference §2.2) ---
  // Highest pre-key id ever stored + 1 (1 when none).
  virtual std::uint32_t next_pre_key_id() = 0;
  // Stores freshly generated keys (uploaded = false).
  virtual void save_pre_keys(const std::vector<PreKey>& keys) = 0;
  // Up to `limit` stored keys not yet uploaded, lowest id first.
  virtual std::vector<PreKey> unuploaded_pre_keys(std::size_t limit) = 0;
  // Number of stored keys marked uploaded.
  virtual std::size_t uploaded_pre_key_count() = 0;
  // Marks every stored key with id <= up_to_id as uploaded.
  virtual void mark_pre_keys_uploaded(std::uint32_t up_to_id) = 0;

  // --- pairing (wa_accounts.qr_code etc., so every pod can serve the QR) ---
  virtual void set_qr(const std::string& qr, std::chrono::system_clock::time_point expires_at) = 0;
  virtual void clear_qr() = 0;
  // The phone paired this device: the account's jid is now `jid` (device JID).
  virtual void set_paired(const std::string& jid) = 0;

  // --- connection facts (wa_accounts tracking fields) ---
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

// Gives the client of account `business_id` its store.
using DeviceStoreProvider = std::function<std::unique_ptr<DeviceStore>(const std::string& business_id)>;

}  // namespace wa::client
