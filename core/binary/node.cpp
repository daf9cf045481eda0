#include "core/binary/node.h"

namespace wa::binary {

const Value* Node::attr(std::string_view key) const {
  for (const auto& a : attrs)
    if (a.key == key) return &a.value;
  return nullptr;
}

std::optional<std::string> Node::attr_text(std::string_view key) const {
  const Value* v = attr(key);
  if (v == nullptr) return std::nullopt;
  return value_text(*v);
}

const NodeList& Node::children() const {
  static const NodeList kEmpty;
  const auto* list = std::get_if<NodeList>(&content);
  return list != nullptr ? *list : kEmpty;
}

const Node* Node::child(std::string_view t) const {
  for (const auto& c : children())
    if (c.tag == t) return &c;
  return nullptr;
}

bool operator==(const Node& a, const Node& b) {
  return a.tag == b.tag && a.attrs == b.attrs && a.content == b.content;
}

std::string value_text(const Value& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  return std::get<Jid>(v).to_string();
}

}  // namespace wa::binary
