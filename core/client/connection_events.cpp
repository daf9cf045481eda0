// How a connection ends (whatsmeow's connectionevents.go): one end_connection for every cause
// (socket closed, connect failed, keepalive dead, stream error, store refused, lease stale),
// the reconnect schedule, and the actions for the stream-error verdicts (stream_errors.h).
#include "common/log.h"
#include "core/client/client_impl.h"

namespace wa::client {

void WaClient::Impl::end_connection(DisconnectReason reason, const std::string& details, bool reconnect,
                                    Close how) {
  if (stopped.load() || gave_up) return;
  wa::log::warn("wa_client_connection_ended")
      .kv("business_id", business_id)
      .kv("reason", core::to_string(reason))
      .kv("details", details)
      .kv("reconnect", reconnect);
  if (!reconnect) gave_up = true;
  drop_connection(how);
  if (!reconnect) cancel_timers();
  if (reason == DisconnectReason::qr_expired)
    store_write(
        "clear qr", [&] { store->clear_qr(); }, false);
  // A lost lock also means the store refuses our writes: nothing to report there.
  if (reason != DisconnectReason::lock_lost) {
    store_write(
        "report disconnect", [&] { store->report_disconnected(reason, details); }, false);
    if (stopped.load() || (gave_up && reconnect)) return;  // the report itself was fenced: that ended it
  }
  if (!reconnect) set_state(ConnectionState::failed);
  emit_disconnect(reason, details);
  if (reconnect) schedule_reconnect(false);
}

// Forgets the current socket (its callbacks are ignored from now on) and closes it; pending
// requests end as `disconnected`.
void WaClient::Impl::drop_connection(Close how) {
  ++gen;
  std::shared_ptr<socket::FrameSocket> s;
  {
    std::lock_guard lk(send_mu);
    s = std::move(sock);
    sock.reset();
  }
  if (s) {
    s->set_frame_handler(nullptr);
    if (how == Close::abort)
      s->abort();
    else
      s->close();
  }
  qr_timer.cancel();
  keepalive_timer.cancel();
  fail_pending();
}

void WaClient::Impl::cancel_timers() {
  reconnect_timer.cancel();
  qr_timer.cancel();
  keepalive_timer.cancel();
}

void WaClient::Impl::schedule_reconnect(bool now) {
  if (stopped.load() || gave_up) return;
  set_state(ConnectionState::connecting);
  const milliseconds delay = now ? milliseconds(0) : backoff.next();
  wa::log::info("wa_client_reconnect_scheduled")
      .kv("business_id", business_id)
      .kv("delay_ms", static_cast<std::int64_t>(delay.count()));
  reconnect_timer.expires_after(delay);
  reconnect_timer.async_wait(alive([this](std::error_code ec) {
    if (!ec) connect();
  }));
}

void WaClient::Impl::connect_failed(std::uint64_t g, const std::string& what) {
  if (g != gen || stopped.load() || gave_up) return;
  if (lease_stale()) return on_lease_stale(g);  // the send gate refused the handshake
  end_connection(DisconnectReason::error, "connect failed: " + what, true);
}

void WaClient::Impl::on_closed(std::uint64_t g, const socket::WsCloseInfo& info) {
  if (g != gen || stopped.load() || gave_up) return;
  if (lease_stale()) return on_lease_stale(g);  // closed by the send gate
  if (expect_restart) {
    // Some servers close without the 515 first; the pairing is done either way.
    expect_restart = false;
    drop_connection(Close::abort);
    return connect();
  }
  wa::log::warn("wa_client_disconnected")
      .kv("business_id", business_id)
      .kv("code", static_cast<int>(info.code))
      .kv("by_peer", info.by_peer);
  end_connection(DisconnectReason::error,
                 "connection closed (code " + std::to_string(info.code) +
                     (info.reason.empty() ? "" : ": " + info.reason) + ")",
                 true);
}

// A frame was refused because the lease is no longer fresh: this pod may not lead the account
// any more, so the connection ends for good (the HA layer decides what runs next).
void WaClient::Impl::on_lease_stale(std::uint64_t g) {
  if (g != gen || stopped.load() || gave_up) return;
  end_connection(DisconnectReason::lock_lost, "lease no longer fresh: frame dropped, connection ended",
                 false);
}

void WaClient::Impl::on_verdict(const Verdict& v, const char* what) {
  wa::log::warn(std::string("wa_client_") + what).kv("business_id", business_id).kv("details", v.details);
  switch (v.reaction) {
    case Reaction::reconnect_now:  // an expected restart (515): not a disconnect worth reporting
      expect_restart = false;
      drop_connection(Close::graceful);
      return connect();
    case Reaction::reconnect_backoff: return end_connection(v.reason, v.details, true, Close::graceful);
    case Reaction::give_up: return end_connection(v.reason, v.details, false, Close::graceful);
  }
}

}  // namespace wa::client
