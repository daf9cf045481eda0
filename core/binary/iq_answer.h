// The list of JID-keyed items an IQ answer carries (usync users, group participants, pre-key
// bundles), read with the caps every decoder of outside bytes needs. One reader for all of them so
// that each parser only says what its items hold. Errors are thrown as the caller's own type
// (`Error`, constructible from a std::string), so callers keep catching what they caught before.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "core/binary/node.h"

namespace wa::binary {

struct AnswerItem {
  const Node* node;  // points into the answer: valid while it lives
  Jid jid;           // the item's "jid" attribute: a valid JID that names a user, not a server
};

// The children tagged `item_tag` of the node at `path` below a type="result" <iq>, each with its
// jid. Throws Error("<what> answered with an error") for anything but a result, and for a missing
// list, more than `max_items` children (of any tag) or an item without a valid user jid.
template <class Error>
std::vector<AnswerItem> answer_items(const Node& iq, std::initializer_list<std::string_view> path,
                                     std::string_view item_tag, std::size_t max_items,
                                     std::string_view what) {
  const std::string name(what);
  if (iq.tag != "iq" || iq.attr_text("type").value_or("") != "result")
    throw Error(name + " answered with an error");
  const Node* list = &iq;
  for (auto tag : path) {
    list = list->child(tag);
    if (!list) throw Error(name + " answer without <" + std::string(tag) + ">");
  }
  if (list->children().size() > max_items) throw Error(name + " answer lists too many items");
  std::vector<AnswerItem> out;
  for (const auto& item : list->children()) {
    if (item.tag != item_tag) continue;
    auto jid = Jid::parse(item.attr_text("jid").value_or(""));
    if (!jid || jid->is_server())
      throw Error(name + " answer: <" + std::string(item_tag) + "> without a valid jid");
    out.push_back(AnswerItem{&item, std::move(*jid)});
  }
  return out;
}

}  // namespace wa::binary
