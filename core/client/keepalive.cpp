// Keepalive (whatsmeow's keepalive.go): a w:p ping every keepalive_min..max from the handshake
// on; a missed answer is tolerated until the last answered ping is keepalive_max_fail old, then
// the connection is left and resumed after the backoff. Pings pass the send gate like any frame.
#include "common/log.h"
#include "core/client/client_impl.h"

namespace wa::client {

void WaClient::Impl::schedule_keepalive() {
  const auto lo = opt.keepalive_min.count(), hi = std::max(opt.keepalive_max.count(), lo);
  std::uniform_int_distribution<std::int64_t> d(lo, hi);
  keepalive_timer.expires_after(milliseconds(d(rng)));
  const auto g = gen;
  keepalive_timer.async_wait(alive([this, g](std::error_code ec) {
    if (ec || g != gen || stopped.load()) return;
    send_iq(
        keepalive_ping(ids.next()), [this, g](const IqResult& r) { on_keepalive_result(g, r); },
        opt.keepalive_response_timeout);
  }));
}

void WaClient::Impl::on_keepalive_result(std::uint64_t g, const IqResult& r) {
  if (g != gen || r.kind == IqResult::Kind::disconnected) return;
  if (r.answered()) {
    last_keepalive_ok = Clock::now();
    return schedule_keepalive();
  }
  const auto since = std::chrono::duration_cast<milliseconds>(Clock::now() - last_keepalive_ok);
  wa::log::warn("wa_client_keepalive_timeout")
      .kv("business_id", business_id)
      .kv("since_last_ok_ms", static_cast<std::int64_t>(since.count()));
  if (since >= opt.keepalive_max_fail) {
    return end_connection(DisconnectReason::timeout,
                          "keepalive unanswered for " + std::to_string(since.count()) + " ms", true);
  }
  schedule_keepalive();
}

}  // namespace wa::client
