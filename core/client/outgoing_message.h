// Building an outgoing 1:1 message (e2e reference §5): the per-device encryption into
// <participants><to jid><enc v="2" type="pkmsg|msg"/></to>…</participants>, our other devices
// getting the DeviceSentMessage copy, <device-identity> when any pkmsg goes out, and the
// single-device resend that answers a retry receipt (§4.6).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/binary/node.h"
#include "core/client/device_sent.h"
#include "core/signal/protocol_store.h"
#include "core/signal/session_cipher.h"

namespace wa::client {

struct Fanout {
  binary::NodeList participants;      // one <to> per device written to
  std::vector<binary::Jid> devices;   // the devices in `participants`, in order
  bool any_pkmsg = false;
  std::vector<std::pair<binary::Jid, std::string>> skipped;  // no session (no bundle): not written to
};

// <enc v="2" type="pkmsg|msg|skmsg" [count]>ciphertext</enc>
binary::Node enc_node(const signal::Ciphertext& ct, std::optional<int> count = std::nullopt);

// Encrypts for each device of `devices` (recipient's and our own): our own other devices get
// `own_plaintext` (the DeviceSentMessage), everyone else `plaintext`; this device is left out.
// Plaintexts are unpadded Message bytes; each is padded here. A device without a session is
// skipped (listed in `skipped`). Store exceptions (StoreFenced) propagate.
Fanout encrypt_fanout(signal::ProtocolStore& store, const std::vector<binary::Jid>& devices,
                      const OwnIdentity& own, crypto::ByteView plaintext, crypto::ByteView own_plaintext);

// <message id to type><participants/>[<device-identity>]</message>; `device_identity` (the
// paired account's ADVSignedDeviceIdentity) is attached only when the fan-out has a pkmsg.
// `phash` is added when given (groups).
binary::Node message_stanza(const std::string& id, const binary::Jid& to, const std::string& type, Fanout fanout,
                            crypto::ByteView device_identity, const std::optional<std::string>& phash = std::nullopt);

// The answer to a retry receipt: <message id to=<device> type [device_fanout="false"]>
// <enc v="2" type count>…</enc>[<device-identity>]</message>, re-encrypted for that device only.
// Throws signal::SignalError (no_session) when there is no session with it.
binary::Node resend_stanza(signal::ProtocolStore& store, const std::string& id, const binary::Jid& device,
                           const std::string& type, crypto::ByteView padded_plaintext, int count,
                           crypto::ByteView device_identity);

// The <message type> for a text (whatsmeow getTypeFromMessage: text for conversation).
inline constexpr const char* kTextType = "text";

}  // namespace wa::client
