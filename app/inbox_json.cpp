#include "app/inbox_json.h"

#include "core/binary/jid.h"

namespace wa::app {
namespace {

// The sender's user JID without agent or device ("from" of issue 8); the stored text if unparsable.
std::string user_jid(const std::string& sender) {
  const auto j = binary::Jid::parse(sender);
  return j ? j->to_non_ad().to_string() : sender;
}

}  // namespace

api::JsonObject inbox_message_json(const store::InboxMessage& m) {
  api::JsonObject o;
  o.str("id", m.id)
      .str("chat", m.chat)
      .str("from", user_jid(m.sender))
      .str("type", m.message_type)
      .opt_str("text", m.text)
      .num("timestamp", m.server_ts);
  return o;
}

}  // namespace wa::app
