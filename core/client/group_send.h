// Sending to a group (e2e reference §6): the member list (w:g2), our sender key for the group, its
// distribution message (SKDM) sent pairwise, and the one skmsg every member device decrypts.
// Like whatsmeow, every member device gets the SKDM with every message (no per-device tracking
// yet), so a device that joined or lost its state can always decrypt.
#pragma once

#include <string>
#include <vector>

#include "core/binary/node.h"
#include "core/client/device_sent.h"
#include "core/client/outgoing_message.h"
#include "core/signal/protocol_store.h"

namespace wa::client {

inline constexpr std::size_t kMaxGroupParticipants = 4096;

class GroupInfoError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// <iq to=<group> type="get" xmlns="w:g2"><query request="interactive"/></iq>
binary::Node group_info_query(const std::string& id, const binary::Jid& group);

// The participants' user JIDs (non-AD) from the answer's <group><participant jid/>…</group>.
// Throws GroupInfoError for an error answer or a malformed one.
std::vector<binary::Jid> parse_group_participants(const binary::Node& iq);

struct GroupMessage {
  binary::Node stanza;
  std::size_t devices = 0;  // devices that got the SKDM pairwise
  bool any_pkmsg = false;
};

// Builds the group <message>: our SKDM (pairwise, pkmsg/msg, to every device of `devices` but this
// one; devices without a session are skipped), phash over the devices written to,
// <device-identity> when a pkmsg is among them, and the top-level skmsg of `message` (unpadded
// Message bytes). Our sender key is named (group, this device's LID address, or its phone-number
// address without a LID). Store exceptions
// propagate.
GroupMessage group_message(signal::ProtocolStore& store, const std::string& id, const binary::Jid& group,
                           const std::vector<binary::Jid>& devices, const OwnIdentity& own,
                           crypto::ByteView message, crypto::ByteView device_identity);

}  // namespace wa::client
