// The stanzas wasim sends and how it answers what a freshly connected client sends. Pure
// functions over wa::binary::Node, so tests can check them without a connection.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/binary/node.h"

namespace wa::sim {

// The node vocabulary of every sim file that builds or reads stanzas (as core/client/stanzas.h
// gives the client its Node).
using wa::binary::Attr;
using wa::binary::Jid;
using wa::binary::Node;
using wa::binary::NodeList;

// A fresh stanza id like the real server's ("<decimal>.<decimal>-<counter>" style is the
// client's; the server uses its own opaque ids).
std::string new_stanza_id();

// <iq from="@s.whatsapp.net" type="set" id=ID xmlns="md"><pair-device><ref>..</ref>×N</pair-device></iq>
// Each ref is BINARY content (whatsmeow ignores string refs; Baileys reads the bytes as UTF-8).
wa::binary::Node pair_device_iq(const std::string& id, const std::vector<std::string>& refs);
// `count` refs shaped like the real ones: "2@" + base64 of random bytes.
std::vector<std::string> make_pair_refs(std::size_t count);

// Seconds since the epoch, as text (the `t` attributes).
std::string unix_seconds();
// <iq from="@s.whatsapp.net" type=TYPE id=(the request's)>children</iq>
wa::binary::Node iq_reply(const wa::binary::Node& request, const std::string& type, wa::binary::NodeList children = {});
// iq_reply of type "error" with <error code text/>.
wa::binary::Node iq_error(const wa::binary::Node& request, int code, const std::string& text);

// <failure reason=REASON location="wasim"/> (reference §7.6); sent before closing.
wa::binary::Node failure(int reason);

// What to send back for one client stanza (empty: nothing). Keepalive pings get a result, the
// few IQs a just-connected client sends get cheap results, other IQ get/set get a 501 error,
// message/receipt/notification/call get an ack, everything else is ignored.
std::vector<wa::binary::Node> reply_to(const wa::binary::Node& in);

}  // namespace wa::sim
