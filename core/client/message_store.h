// What messaging needs from the store, one role per concern (whatsmeow store.go: the Signal stores,
// the LID map, the decrypted-event buffer), composed into one MessageStore per account the way
// DeviceStore is. core/ knows nothing of PostgreSQL: store/ implements the roles, ha/ gates them by
// the account's lease (ha/leased_message_store.h), tests keep them in memory.
//
// Contract (as for DeviceStore): every method may throw; client::StoreFenced means this pod no
// longer leads the account (nothing of the refused write committed) and the client stops for good.
// Calls come from the account's client thread; they may block on the database.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/client/message_content.h"
#include "core/crypto/bytes.h"
#include "core/signal/signal_stores.h"

namespace wa::client {

// The account's Signal protocol state (sessions, identities, pre-keys, signed pre-key, sender keys)
// and the transaction that makes a decryption atomic.
class SignalStateStore {
 public:
  virtual ~SignalStateStore() = default;
  // The role stores for signal::ProtocolStore; valid as long as this object. The account must be
  // paired (the state is keyed by the device JID).
  virtual signal::SignalStores signal_stores() = 0;
  // Runs `body` in ONE fenced transaction: every write of signal_stores(), InboxSink and LidMap made
  // inside commits together with the others or not at all. Throws StoreFenced when the lease epoch
  // moved (nothing committed); any exception from `body` rolls back and propagates. Not reentrant.
  virtual void transaction(std::string_view purpose, const std::function<void()>& body) = 0;
};

// One decrypted incoming message as the inbox stores it.
struct InboxEntry {
  std::string id;                     // the WhatsApp message id
  std::string chat;                   // user JID of the other party (1:1), or the group JID
  std::string sender;                 // the author's JID as it arrived (may name a device)
  std::string message_type = "text";  // "text", or the raw type of content we do not decode
  std::optional<std::string> text;    // set for "text"
  std::int64_t server_ts = 0;         // unix seconds, the stanza's `t`
  crypto::Bytes ciphertext_hash;      // SHA-256 of the <enc> payload that carried the content: the key
};

// The durable inbox (whatsmeow's decrypted event buffer): a message is decrypted and stored in one
// commit, and a redelivery of the same ciphertext is recognised instead of being decrypted again.
class InboxSink {
 public:
  virtual ~InboxSink() = default;
  // Whether a message with this ciphertext hash (SHA-256 of the <enc> payload) is stored already:
  // a redelivery, to ack and receipt without decrypting.
  virtual bool inbox_contains(const crypto::Bytes& ciphertext_hash) = 0;
  // Stores `entry`. Call it inside SignalStateStore::transaction (from the decryption's content
  // hook), where it joins the ratchet's transaction. Returns false when the message is already
  // stored (same ciphertext hash, or same chat/sender/id): nothing is written then.
  virtual bool inbox_put(const InboxEntry& entry) = 0;
};

enum class OutboxStatus { queued, sent, delivered, read, failed };
const char* to_string(OutboxStatus s);

// One outgoing message of the durable outbox.
struct OutboxItem {
  std::string id;         // the WhatsApp message id, reused for every (re)send
  std::string recipient;  // user JID (…@s.whatsapp.net, …@lid) or group JID (…@g.us)
  std::string text;
  OutboxStatus status = OutboxStatus::queued;
  std::optional<std::string> error;  // set for failed
  std::int64_t attempts = 0;         // claims so far (1 on the first send)
  std::int64_t created_at_ms = 0;    // when it was queued (unix ms; 0 = unknown), for send latency
  std::optional<Quote> reply_to = std::nullopt;  // a reply: sent as the quoted message context
};

// The sender's view of the durable outbox (rows are queued by any pod: CLI, API).
class OutboxAccess {
 public:
  virtual ~OutboxAccess() = default;
  // Claims up to `limit` queued rows not yet claimed under this lease epoch, oldest first (a row an
  // older leader claimed but never marked sent comes back: send it with the same id). Fenced.
  virtual std::vector<OutboxItem> claim_outbox(std::size_t limit) = 0;
  // Gives a claimed, still queued row back (a transient failure), for a later claim. Fenced.
  virtual void release_outbox(const std::string& id) = 0;
  // Moves the row forward to `status` (sent, delivered, read; or failed with `error`). Returns false
  // when it is already there or beyond, failed, or unknown: statuses never go back. Fenced.
  virtual bool mark_outbox(const std::string& id, OutboxStatus status,
                           const std::optional<std::string>& error = std::nullopt) = 0;
  virtual std::optional<OutboxItem> find_outbox(const std::string& id) = 0;
};

// Phone number <-> LID of contacts (e2e reference, wa-beyond-text §4): user parts only ("1555…",
// "2098…"), no server, no device. One LID per phone number and one phone number per LID.
class LidMap {
 public:
  virtual ~LidMap() = default;
  // Records the pair (learned from sender_pn / sender_lid / participant_pn / usync). A pair that
  // replaces an older one for either side removes the older one. A new pair also moves the
  // contact's Signal state (sessions, identities, sender keys) from its phone-number address to
  // its LID address, as whatsmeow's MigratePNToLID: call it before decrypting or encrypting with
  // the LID. Fenced; joins an open transaction.
  virtual void put_lid_mapping(const std::string& lid_user, const std::string& pn_user) = 0;
  virtual std::optional<std::string> lid_for_pn(const std::string& pn_user) = 0;
  virtual std::optional<std::string> pn_for_lid(const std::string& lid_user) = 0;
};

// Which member devices hold our sender key for a group (Baileys' sender-key memory), so a group
// message carries the SenderKeyDistributionMessage only to the others. A device is added once the
// server acked a message that carried the distribution to it. Device = Signal address text.
class SenderKeyRecipients {
 public:
  virtual ~SenderKeyRecipients() = default;
  virtual std::vector<std::string> sender_key_devices(const std::string& group) = 0;
  // Fenced; joins an open transaction.
  virtual void add_sender_key_devices(const std::string& group, const std::vector<std::string>& devices) = 0;
};

// Everything messaging uses, from one object per account (whatsmeow's store.Device).
class MessageStore : public SignalStateStore,
                     public InboxSink,
                     public OutboxAccess,
                     public LidMap,
                     public SenderKeyRecipients {};

// Gives the client of account `business_id` its message store (null provider: the client pairs and
// stays online but handles no messages).
using MessageStoreProvider = std::function<std::unique_ptr<MessageStore>(const std::string& business_id)>;

}  // namespace wa::client
