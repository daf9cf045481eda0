// IQ requests (whatsmeow's request.go): an id per request, a timer per request, and exactly one
// typed result for each: the server's answer, a timeout, or `disconnected` when the connection
// ends first.
#include "core/client/client_impl.h"

namespace wa::client {

std::string IqResult::describe() const {
  switch (kind) {
    case Kind::response: return node->attr_text("type").value_or("response");
    case Kind::timeout: return "timeout";
    case Kind::disconnected: return "disconnected";
  }
  return "unknown";
}

void WaClient::Impl::send_iq(const Node& n, IqHandler handler, milliseconds timeout) {
  const std::string id = n.attr_text("id").value_or("");
  auto timer = std::make_unique<Timer>(io);
  timer->expires_after(timeout);
  const auto g = gen;
  timer->async_wait(alive([this, id, g](std::error_code ec) {
    if (ec || g != gen) return;
    auto it = pending.find(id);
    if (it == pending.end()) return;
    auto h = std::move(it->second.handler);
    pending.erase(it);
    if (h) h(IqResult::timed_out());
  }));
  pending[id] = Pending{std::move(handler), std::move(timer)};
  send(n);
}

bool WaClient::Impl::route_response(const Node& n) {
  const std::string id = n.attr_text("id").value_or("");
  const std::string type = n.attr_text("type").value_or("");
  if ((type != "result" && type != "error") || id.empty()) return false;
  auto it = pending.find(id);
  if (it == pending.end()) return false;
  auto h = std::move(it->second.handler);
  it->second.timer->cancel();
  pending.erase(it);
  if (h) h(IqResult::response(n));
  return true;
}

void WaClient::Impl::fail_pending() {
  auto p = std::move(pending);
  pending.clear();
  for (auto& [id, entry] : p) {
    entry.timer->cancel();
    if (entry.handler) entry.handler(IqResult::gone());
  }
}

}  // namespace wa::client
