// Phone number (PN) and LID addressing (beyond-text reference §4). Every account wasim knows has
// a LID; inside wasim a device is always (phone number, device id), and routed stanzas are built
// in that PN form. Each connection is then served in its addressing mode: "lid" as the real
// service does today (1:1 `from` is the sender's LID device plus `sender_pn`, own-device copies
// have `recipient` = the peer's LID plus `peer_recipient_pn`, group `participant` is a LID device
// plus `participant_pn`, `addressing_mode="lid"`), or "pn" for clients without LID support
// (Baileys 6), which see phone numbers only. Clients may address wasim either way.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/binary/jid.h"
#include "core/binary/node.h"

namespace wa::sim {

enum class Addressing { lid, pn };

// Which mode a connection gets: `configured` "lid" or "pn" fixes it; "auto" picks pn for a client
// that speaks dictionary 2 (Baileys 6, which has no LID support) and lid for everyone else.
Addressing addressing_for(std::string_view configured, int dict_version);
const char* to_string(Addressing a);

// The account's LID user number. A fixed permutation of the phone number (mod 10^15), so it is
// stable without a state file, the same for every client, and not the number itself; clients must
// learn it from wasim (usync <lid/>, <success lid>, the attributes above) as from WhatsApp.
std::uint64_t lid_of(std::uint64_t user);
// The phone number behind a LID user number; nullopt for a number that is no LID (>= 10^15).
std::optional<std::uint64_t> user_of_lid(std::uint64_t lid);

wa::binary::Jid pn_jid(std::uint64_t user, std::optional<std::uint32_t> device = std::nullopt);
wa::binary::Jid lid_jid(std::uint64_t user, std::optional<std::uint32_t> device = std::nullopt);

// A device named by a PN or LID JID (no device = 0) as (phone number, device); nullopt for
// anything else (groups, other servers, agents, non-numeric users).
std::optional<std::pair<std::uint64_t, std::uint32_t>> device_of(std::string_view jid_text);

// A routed <message>/<receipt> (PN form) as a connection in `mode` receives it; other stanzas and
// pn mode: unchanged.
wa::binary::Node address_for(const wa::binary::Node& stanza, Addressing mode);

}  // namespace wa::sim
