// The participant-list hash (e2e reference §5, whatsmeow participantListHashV2): "2:" + unpadded
// standard base64 of the first 6 bytes of SHA-256 over the sorted "user.agent:device@server"
// strings of every device a message was encrypted for. Sent on group messages; for 1:1 messages the
// server's ack carries its own, and a mismatch means our device list is stale.
#pragma once

#include <string>
#include <vector>

#include "core/binary/jid.h"

namespace wa::client {

// whatsmeow's ADString: "user.agent:device@server" (agent and device always written, 0 if none).
std::string ad_string(const binary::Jid& jid);

std::string participant_hash(const std::vector<binary::Jid>& devices);

}  // namespace wa::client
