// The answers to an incoming <message> (e2e reference §4.5), as pure builders: the delivery
// receipt once the message is stored (or was stored before: a redelivery), and the ack, with a
// NACK code when the stanza could not be handled.
#pragma once

#include <optional>

#include "core/binary/node.h"
#include "core/client/message_info.h"

namespace wa::client {

// NACK codes (whatsmeow receipt.go, Baileys NACK_REASONS).
inline constexpr int kNackParsingError = 487;
inline constexpr int kNackInvalidProtobuf = 491;

// <receipt id to=<from> [recipient] [participant] [type]>: `type` is "sender" for a copy from our
// own other device, "peer_msg" for an own-device protocol message, absent (delivered) otherwise.
binary::Node delivery_receipt(const binary::Node& message, const MessageInfo& info);

// ack_for(message), plus error="<code>" when given.
binary::Node message_ack(const binary::Node& message, std::optional<int> error = std::nullopt);

}  // namespace wa::client
