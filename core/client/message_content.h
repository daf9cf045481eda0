// The decrypted, unpadded Message protobuf (e2e reference §4.4) reduced to what the connector acts
// on: text (conversation / extendedTextMessage.text), a sender-key distribution, a protocol
// message, the DeviceSentMessage wrapper of our own devices' copies. Everything else is kept raw
// with its top-level field numbers as its type. Input is untrusted: size, nesting and text length
// are capped, text must be UTF-8.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "core/crypto/bytes.h"

namespace wa::client {

using MessageDecodeError = wa::Error<struct MessageDecodeErrorTag>;

struct MessageLimits {
  std::size_t max_bytes = 4u << 20;        // the whole plaintext (= the largest ciphertext we accept)
  std::size_t max_text_bytes = 65536 * 4;  // WhatsApp's 65,536-character limit, 4 UTF-8 bytes each
  int max_depth = 16;                      // protobuf nesting
};

struct SenderKeyDistribution {
  std::string group_id;        // the group JID text
  crypto::Bytes distribution;  // axolotlSenderKeyDistributionMessage (for libsignal)
};

struct ProtocolContent {
  int type = 0;  // ProtocolMessage.Type (REVOKE 0, MESSAGE_EDIT 14, ...)
  std::string key_remote_jid;
  bool key_from_me = false;
  std::string key_id;
  std::string key_participant;
};

// The message a reply quotes: its id, author (user JID) and text.
struct Quote {
  std::string id;
  std::string sender;
  std::string text;
};

struct MessageContent {
  // "text", "protocol", "sender_key_distribution" (nothing else inside), "empty", or the raw type:
  // the known name or "field_<n>" of each other top-level field, joined by ','.
  std::string type;
  // Valid UTF-8, but it may contain U+0000, which a PostgreSQL TEXT column refuses: the inbox
  // must store it as bytes or escape it.
  std::optional<std::string> text;
  std::optional<Quote> quote = std::nullopt;  // a reply: extendedTextMessage.contextInfo (quoted text when it is text)
  std::optional<SenderKeyDistribution> sender_key_distribution;
  std::optional<ProtocolContent> protocol;
  // Set when the message came wrapped in a DeviceSentMessage (a copy from our own device); the
  // other members then describe the wrapped message.
  std::optional<std::string> device_sent_destination;
  std::optional<std::string> device_sent_phash;
  // Top-level field numbers we do not interpret (messageContextInfo excluded), ascending.
  std::vector<int> other_fields;
  // The message bytes (the wrapped message for a DeviceSentMessage), to store unknown content raw.
  crypto::Bytes raw;
};

// Throws MessageDecodeError naming what is wrong.
MessageContent decode_message(crypto::ByteView plaintext, const MessageLimits& limits = {});

// Message{conversation = text}, serialized (what we send for a text).
// A reply (`quote` set) is an extendedTextMessage whose contextInfo names the quoted message
// (stanzaId, participant, quotedMessage), as WhatsApp's apps send it.
crypto::Bytes encode_text_message(const std::string& text, const std::optional<Quote>& quote = std::nullopt);
// Message{senderKeyDistributionMessage{groupId, axolotl…}} (sent pairwise before an skmsg).
crypto::Bytes encode_sender_key_distribution(const std::string& group_id, crypto::ByteView distribution);
// Message{deviceSentMessage{destinationJid, message}, messageContextInfo copied} for our own other
// devices (whatsmeow's shape, e2e reference §3.2). `message` is the serialized original.
crypto::Bytes encode_device_sent(const std::string& destination_jid, crypto::ByteView message);

// Strict UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF).
bool valid_utf8(std::string_view s);

}  // namespace wa::client
