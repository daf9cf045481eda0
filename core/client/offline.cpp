// <ib> from the server: the offline batch around login (e2e reference §4; whatsmeow
// connectionevents.go handleIB). The queued messages themselves arrive as ordinary <message>
// stanzas with offline="1" and go through on_message; <offline count=N/> marks the end.
#include "common/log.h"
#include "core/client/client_impl.h"

namespace wa::client {

void WaClient::Impl::on_ib(const Node& n) {
  for (const auto& c : n.children()) {
    if (c.tag == "offline_preview") {
      auto l = wa::log::info("wa_offline_preview");
      l.kv("business_id", business_id);
      for (const char* k : {"count", "message", "notification", "receipt", "appdata", "call"})
        if (auto v = c.attr_text(k)) l.kv(k, *v);
    } else if (c.tag == "offline") {
      wa::log::info("wa_offline_sync_completed")
          .kv("business_id", business_id)
          .kv("count", c.attr_text("count").value_or(""));
    } else {
      wa::log::debug("wa_client_unhandled_ib").kv("business_id", business_id).kv("child", c.tag);
    }
  }
}

}  // namespace wa::client
