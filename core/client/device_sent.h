// Copies for our own other devices (e2e reference §3.2): a 1:1 message is also encrypted for
// every other device of our own account, wrapped in a DeviceSentMessage naming the chat, so the
// phone shows what the connector sent. Our own device is never a target.
#pragma once

#include <optional>
#include <string>

#include "core/binary/jid.h"
#include "core/crypto/bytes.h"

namespace wa::client {

// Our own account, as the send path sees it: the device we are and its LID form when known.
struct OwnIdentity {
  binary::Jid device;                // e.g. 15550001:12@s.whatsapp.net
  std::optional<binary::Jid> lid;    // e.g. 10000015550001:12@lid
};

// `device` is this very device (PN or LID form).
bool is_this_device(const binary::Jid& device, const OwnIdentity& own);

// `device` belongs to our own account (any device, this one included).
bool is_own_account(const binary::Jid& device, const OwnIdentity& own);

// The DeviceSentMessage plaintext (unpadded) for our other devices: `message` (serialized
// Message) wrapped with the chat JID it was sent to.
crypto::Bytes device_sent_plaintext(const binary::Jid& chat, crypto::ByteView message);

}  // namespace wa::client
