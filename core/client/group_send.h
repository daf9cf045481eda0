// Sending to a group (e2e reference §6): the member list (w:g2), our sender key for the group, its
// distribution message (SKDM) sent pairwise, and the one skmsg every member device decrypts.
// The SKDM goes only to member devices that do not hold our sender key yet (tracked per device in
// the store, as Baileys does); a device that lost it asks with a retry receipt, answered pairwise
// with the message and the SKDM (retry_answer.cpp).
#pragma once

#include <string>
#include <vector>

#include "common/error.h"
#include "core/binary/node.h"
#include "core/client/device_sent.h"
#include "core/client/outgoing_message.h"
#include "core/signal/protocol_store.h"

namespace wa::client {

inline constexpr std::size_t kMaxGroupParticipants = 4096;

using GroupInfoError = wa::Error<struct GroupInfoErrorTag>;

// <iq to=<group> type="get" xmlns="w:g2"><query request="interactive"/></iq>
binary::Node group_info_query(const std::string& id, const binary::Jid& group);

// The participants' user JIDs (non-AD) from the answer's <group><participant jid/>…</group>.
// Throws GroupInfoError for an error answer or a malformed one.
std::vector<binary::Jid> parse_group_participants(const binary::Node& iq);

struct GroupMessage {
  binary::Node stanza;
  std::size_t devices = 0;  // devices that got the SKDM pairwise
  bool any_pkmsg = false;
  // Signal addresses of the devices that got the SKDM: to be recorded once the server acks.
  std::vector<std::string> skdm_devices;
};

// Our sender key's name for `group`: (group, this device's LID address, or its phone-number address
// without a LID), as whatsmeow names it; members see us as that participant.
signal::SenderKeyName own_sender_key_name(const binary::Jid& group, const OwnIdentity& own);

// Builds the group <message>: our SKDM (pairwise, pkmsg/msg) to every device of `devices` but this
// one whose Signal address is not in `have_key` (devices without a session are skipped), phash over
// all member devices, <device-identity> when a pkmsg is among them, and the top-level skmsg of
// `message` (unpadded Message bytes). <participants> is left out when nobody needs the SKDM. Store
// exceptions propagate.
GroupMessage group_message(signal::ProtocolStore& store, const std::string& id, const binary::Jid& group,
                           const std::vector<binary::Jid>& devices, const OwnIdentity& own,
                           crypto::ByteView message, crypto::ByteView device_identity,
                           const std::vector<std::string>& have_key = {});

// The answer to a member device's retry receipt for group message `id`: <message to=group
// participant=device type> with one pairwise <enc count> of the message together with our current
// SKDM (so the device reads this message and the ones after it), [<device-identity>]. Throws
// signal::SignalError (no_session) when there is no session with the device.
binary::Node group_retry_stanza(signal::ProtocolStore& store, const std::string& id, const binary::Jid& group,
                                const binary::Jid& device, const OwnIdentity& own, crypto::ByteView message,
                                int count, crypto::ByteView device_identity);

}  // namespace wa::client
