// Decrypting one parsed <message> (e2e reference §4.2-4.6; whatsmeow message.go decryptMessages):
// every <enc> in stanza order, the SenderKeyDistributionMessage of a pairwise enc installed before
// the skmsg that follows, padding removed, the Message protobuf decoded. No I/O of its own: the
// Signal stores are behind `store`, and the caller persists each plaintext from `on_content`,
// which runs inside libsignal's decryption callback, i.e. before the ratchet is stored (run the
// whole call in PgSignalStore::transaction() to commit both together).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/client/message_content.h"
#include "core/client/message_info.h"
#include "core/signal/protocol_store.h"
#include "core/signal/signal_error.h"

namespace wa::client {

enum class EncOutcome {
  decrypted,    // content is set
  duplicate,    // already decrypted earlier (libsignal's duplicate counter): skip, still receipt
  failed,       // decryption failed: answer with a retry receipt (error says why)
  malformed,    // decrypted, but the padding or the protobuf is bad: ack with error 491; ratchet advanced
  unsupported,  // v=3 or an enc type we do not handle (msmsg, unknown): skipped
};
const char* to_string(EncOutcome o);

struct EncResult {
  EncOutcome outcome = EncOutcome::failed;
  EncType type = EncType::unknown;
  std::optional<MessageContent> content;
  std::optional<signal::SignalErrorKind> error_kind;  // for failed
  // Why, for failed / malformed / unsupported; for decrypted, a sender-key distribution inside
  // that could not be installed.
  std::string error;
};

struct MessageDecryptResult {
  std::vector<EncResult> encs;  // one per <enc>, in order
  // At least one enc failed to decrypt (whatsmeow sends a retry receipt then).
  bool needs_retry() const;
  // The message content to hand on: the last decrypted content with something besides a bare
  // sender-key distribution (the skmsg of a group, the pairwise enc of a DM).
  const MessageContent* content() const;
};

// Called for each decrypted and decoded enc, before libsignal stores the advanced ratchet. If it
// throws, nothing of that enc is stored and the exception propagates (client::StoreFenced included).
using ContentHook = std::function<void(const EncPayload& enc, const MessageContent& content)>;

// The Signal address of a sender device; by default Address::from_jid (override to map a phone
// number to its LID once the session moved there, e2e reference §1.2).
using AddressResolver = std::function<signal::Address(const binary::Jid& sender)>;

// Decrypts `info`'s encs. Store exceptions propagate; per-enc Signal, padding and protobuf errors
// are reported in the result.
MessageDecryptResult decrypt_message(signal::ProtocolStore& store, const MessageInfo& info,
                                     const ContentHook& on_content = {}, const AddressResolver& resolve = {},
                                     const MessageLimits& limits = {});

}  // namespace wa::client
