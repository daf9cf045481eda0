// What comes back for the messages we sent (e2e reference §4.5, §4.6, §5): the server's
// <ack class="message"> (accepted → `sent`, or an error code), and the recipients' <receipt>s
// (delivery → `delivered`, read → `read`, retry → re-encrypt for that device). Pure parsing with
// limits; the client acts on the result.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/binary/node.h"
#include "core/signal/prekey_bundle.h"

namespace wa::client {

inline constexpr std::size_t kMaxReceiptIds = 1024;  // <list><item id/> entries we read

struct ServerAck {
  std::string id;
  std::string from;                  // the chat
  std::optional<std::string> error;  // present and non-empty: the server refused the message
  std::optional<std::int64_t> t;
  std::optional<std::string> phash;
};

// An <ack class="message" id> (other classes and acks without id: nullopt).
std::optional<ServerAck> parse_message_ack(const binary::Node& n);

enum class ReceiptKind {
  delivered,  // no type, or "inactive"
  read,       // "read" (not "read-self": that is our own device reading)
  played,
  retry,
  sender,     // our own other device got the DeviceSentMessage copy
  other,      // server-error, hist_sync, peer_msg, read-self, played-self, …
};

struct RetryRequest {
  int count = 0;                       // <retry count>
  std::uint32_t registration_id = 0;   // <registration> 4 bytes BE
  bool has_keys = false;               // a <keys> bundle came along (parse with signal::parse_bundle)
};

struct Receipt {
  ReceiptKind kind = ReceiptKind::other;
  std::string type;                    // the raw type attribute ("" = delivery)
  std::vector<std::string> ids;        // the id attribute first, then <list><item id>
  binary::Jid from;                    // the device that sent it (groups: the participant)
  std::optional<binary::Jid> chat;     // groups: the group; 1:1: nullopt
  std::optional<std::string> recipient;
  std::optional<RetryRequest> retry;
  // Retry receipts with <keys>: the peer's fresh bundle (nullopt when absent or malformed).
  std::optional<signal::PreKeyBundle> bundle;
};

// Parses a <receipt>; nullopt when it has no usable id or sender. Retry receipts without a valid
// <retry count> are kind `other`.
std::optional<Receipt> parse_receipt(const binary::Node& n);

}  // namespace wa::client
