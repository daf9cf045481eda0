// A WhatsApp binary node (stanza): tag, ordered attributes, optional content.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/binary/jid.h"

namespace wa::binary {

using Bytes = std::vector<std::uint8_t>;

// Attribute values are strings or JIDs; the type decides the encoding (a string that happens to
// contain '@' is written raw, a Jid as JID_PAIR / AD_JID / FB_JID / INTEROP_JID).
using Value = std::variant<std::string, Jid>;

struct Attr {
  std::string key;
  Value value;
  friend bool operator==(const Attr&, const Attr&) = default;
};

struct Node;
using NodeList = std::vector<Node>;
// none | child nodes | raw bytes (BINARY_*) | string | JID (a JID used as content)
using Content = std::variant<std::monostate, NodeList, Bytes, std::string, Jid>;

struct Node {
  std::string tag;
  std::vector<Attr> attrs;  // order is kept (Baileys keeps insertion order on the wire)
  Content content;

  // First attribute with this key, or nullptr. Decoders must not depend on attribute order.
  const Value* attr(std::string_view key) const;
  // The attribute as text (JIDs formatted); nullopt when absent.
  std::optional<std::string> attr_text(std::string_view key) const;
  // Child nodes, or an empty list when the content is not a list.
  const NodeList& children() const;
  // First child with this tag, or nullptr.
  const Node* child(std::string_view tag) const;
  const Bytes* bytes() const { return std::get_if<Bytes>(&content); }

  friend bool operator==(const Node& a, const Node& b);
};

std::string value_text(const Value& v);

}  // namespace wa::binary
