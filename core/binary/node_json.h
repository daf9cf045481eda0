// The JSON form of a node, as in binary-vectors.json:
//   {"tag": "iq", "attrs": [["id", "1"], ["to", "@s.whatsapp.net"]], "content": ...}
// content is absent (none), a list of nodes, {"bytes_hex": "..."} (BINARY_* bytes), or a JSON
// string (string content). Attribute values and string content that contain '@' and parse as a
// JID are JIDs, as Baileys writes them; decoded JIDs print in Baileys' text form with the
// device kept when the wire had one ("u:0@s.whatsapp.net" for AD_JID device 0).
// "attrs" may also be an object ({"id": "1"}, member order kept) and may be omitted.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "core/binary/json.h"
#include "common/hex.h"
#include "core/binary/node.h"

namespace wa::binary {

// Throws JsonError naming the path ("$.content[1].attrs[0]") for shape errors.
Node node_from_json(const Json& j);
Node node_from_json_text(std::string_view text, const JsonLimits& limits = {});
// One line, no trailing newline.
std::string node_to_json(const Node& n);

using wa::to_hex;  // common/hex.h
// wa::from_hex, throwing JsonError on odd length or non-hex characters.
Bytes from_hex(std::string_view hex);

}  // namespace wa::binary
