// Pure parsing of an incoming <message> stanza (e2e reference §4.1-4.2; whatsmeow message.go
// parseMessageSource / parseMessageInfo): who sent it, in which chat, with which addressing, and
// its <enc> payloads. No decryption, no I/O. Malformed stanzas throw MalformedMessage naming the
// attribute or child (never its value: JIDs are phone numbers).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "core/binary/node.h"

namespace wa::client {

using MalformedMessage = wa::Error<struct MalformedMessageTag>;

enum class AddressingMode { unspecified, pn, lid };
const char* to_string(AddressingMode m);

enum class EncType { pkmsg, msg, skmsg, msmsg, unknown };
const char* to_string(EncType t);

struct EncPayload {
  EncType type = EncType::unknown;
  std::string type_text;     // as sent (for unknown types)
  int version = 2;           // v="2" (Signal, padded) or v="3" (not padded)
  binary::Bytes ciphertext;  // never empty
  std::optional<int> count;  // retry number on a resend
  std::string mediatype;
  bool decrypt_fail_hide = false;  // decrypt-fail="hide"
};

// Our own account, to recognise copies sent by our other devices. Either may be absent.
struct OwnJids {
  std::optional<binary::Jid> pn;
  std::optional<binary::Jid> lid;
};

struct MessageInfo {
  std::string id;
  binary::Jid from;  // as sent: the sender device (DM), the group / broadcast JID, or our other device
  binary::Jid chat;  // non-device chat JID: the group, the other party of a DM, or `recipient` for own copies
  binary::Jid sender;  // the author's device JID (participant in groups)
  // The author's other identity (sender_pn / sender_lid in DMs, participant_pn / participant_lid in
  // groups): PN when `sender` is a LID and the other way round.
  std::optional<binary::Jid> sender_alt;
  std::optional<binary::Jid> recipient;      // the recipient attribute (own-device copies of a DM)
  std::optional<binary::Jid> recipient_alt;  // peer_recipient_pn / peer_recipient_lid
  bool is_group = false;                     // group or broadcast chat
  bool is_from_me = false;                   // sent by another device of our own account
  std::int64_t timestamp = 0;                // t, unix seconds (server time)
  std::string type;                          // text, media, reaction, poll, ...
  std::string category;                      // "peer" for own-device protocol messages
  std::string notify;                        // push name (never log it)
  std::string edit;
  AddressingMode addressing_mode = AddressingMode::unspecified;
  bool offline = false;          // delivered from the offline queue
  bool unavailable = false;      // <unavailable>: the server has no payload for this device
  std::vector<EncPayload> encs;  // in stanza order (the SKDM-carrying pkmsg/msg comes before skmsg)
};

struct MessageInfoLimits {
  std::size_t max_id = 128;  // real ids are 16-32 characters
  std::size_t max_encs = 8;  // real stanzas carry 1 (DM) or 2 (group with SKDM)
  std::size_t max_ciphertext = 4u << 20;
};

MessageInfo parse_message_info(const binary::Node& message, const OwnJids& own = {},
                               const MessageInfoLimits& limits = {});

}  // namespace wa::client
