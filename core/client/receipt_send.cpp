#include "core/client/receipt_send.h"

#include "core/client/stanzas.h"

namespace wa::client {

binary::Node delivery_receipt(const binary::Node& message, const MessageInfo& info) {
  binary::Node r{"receipt", {{"id", info.id}}, {}};
  if (const auto* from = message.attr("from")) r.attrs.push_back({"to", *from});
  for (const char* k : {"recipient", "participant"})
    if (const auto* v = message.attr(k)) r.attrs.push_back({k, *v});
  if (info.category == "peer")
    r.attrs.push_back({"type", std::string("peer_msg")});
  else if (info.is_from_me)
    r.attrs.push_back({"type", std::string("sender")});
  return r;
}

binary::Node message_ack(const binary::Node& message, std::optional<int> error) {
  auto a = ack_for(message);
  if (error) a.attrs.push_back({"error", std::to_string(*error)});
  return a;
}

}  // namespace wa::client
