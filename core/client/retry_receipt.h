// Asking the sender to re-encrypt a message we could not decrypt (e2e reference §4.6; whatsmeow
// retry.go sendRetryReceipt, Baileys sendRetryRequest): the retry receipt, its count per message
// id, and the keys it carries from the second retry on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>

#include "core/binary/node.h"
#include "core/client/device.h"
#include "core/client/message_info.h"

namespace wa::client {

// whatsmeow and Baileys stop asking at the fifth attempt.
inline constexpr int kMaxRetryCount = 5;

// What a retry receipt with keys carries: a fresh one-time pre-key (stored before it is sent) and
// our device identity, so the sender can build a new session without fetching a bundle.
struct RetryKeys {
  Key32 identity_pub{};
  PreKey pre_key;
  SignedPreKey signed_pre_key;
  Bytes device_identity;  // ADVSignedDeviceIdentity without accountSignatureKey
};

// <receipt id to [participant] [recipient] type="retry" [category="peer"]>
//   <retry count id t v="1"/><registration>4 bytes</registration>[<keys>…</keys>]</receipt>
binary::Node retry_receipt(const binary::Node& message, const MessageInfo& info, int count,
                           std::uint32_t registration_id, const std::optional<RetryKeys>& keys);

// The stored account identity (ADVSignedDeviceIdentity) as it may be shown to others: without the
// phone's accountSignatureKey (whatsmeow and Baileys never send it). Throws std::invalid_argument
// when `account` is not a valid ADVSignedDeviceIdentity.
Bytes device_identity_for_wire(const Bytes& account);

// Retry numbers per message id, in memory like whatsmeow's messageRetries: the next number is one
// more than what we asked before or than the resend's <enc count>. Bounded: the oldest ids are
// forgotten first.
class RetryCounter {
 public:
  explicit RetryCounter(std::size_t capacity = 4096) : capacity_(capacity) {}
  // The number of the retry receipt to send now (1 for the first).
  int next(const std::string& message_id, std::optional<int> resend_count);
  // The message decrypted after all: forget it.
  void forget(const std::string& message_id);
  std::size_t size() const { return counts_.size(); }

 private:
  std::size_t capacity_;
  std::map<std::string, int> counts_;
  std::deque<std::string> order_;
};

}  // namespace wa::client
