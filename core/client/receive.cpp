// Incoming frames: decode, count activity, dispatch by tag, and ack what must be acked.
#include "common/log.h"
#include "core/binary/decoder.h"
#include "core/client/client_impl.h"

namespace wa::client {

namespace {
constexpr auto kActivityReportInterval = std::chrono::seconds(60);
}

void WaClient::Impl::on_frame(std::uint64_t g, const Bytes& frame) {
  if (g != gen || stopped.load()) return;
  Node n;
  try {
    n = binary::decode_frame(frame, static_cast<binary::Dict>(opt.dict_version));
  } catch (const std::exception& e) {
    wa::log::warn("wa_client_bad_frame")
        .kv("business_id", business_id)
        .kv("bytes", frame.size())
        .kv("error", e.what());
    return;
  }
  const auto now = Clock::now();
  if (st.load() == ConnectionState::logged_in && now - last_activity_report >= kActivityReportInterval) {
    last_activity_report = now;
    store_write(
        "report activity", [&] { store->report_activity(); }, false);
  }
  try {
    dispatch(n);
  } catch (const std::exception& e) {
    // A stanza we could not handle must not take the client thread down: start afresh.
    wa::log::error("wa_client_handler_failed")
        .kv("business_id", business_id)
        .kv("stanza", n.tag)
        .kv("error", e.what());
    end_connection(DisconnectReason::error, "handling <" + n.tag + "> failed: " + e.what(), true);
  }
}

void WaClient::Impl::dispatch(const Node& n) {
  if (n.tag == "iq") return on_iq(n);
  if (n.tag == "success") return on_success(n);
  if (n.tag == "failure") return on_verdict(classify_failure(n), "failure");
  if (n.tag == "stream:error") return on_verdict(classify_stream_error(n), "stream_error");
  if (n.tag == "notification") {
    send(ack_for(n));
    return on_notification(n);
  }
  if (n.tag == "message") return on_message(n);
  if (n.tag == "ib") return on_ib(n);
  if (n.tag == "receipt") {
    // Applied first, acked after (as messages are): a pod that dies or is fenced in between leaves
    // the receipt with the server, which gives it to the next leader; acked first, a delivered or
    // read status could be lost.
    if (on_receipt(n)) send(ack_for(n));
    return;
  }
  if (n.tag == "ack") return on_server_ack(n);
  if (n.tag == "call") return send(ack_for(n));
  if (n.tag == "xmlstreamend") {
    wa::log::info("wa_client_stream_end").kv("business_id", business_id);
    return;
  }
  wa::log::debug("wa_client_unhandled").kv("business_id", business_id).kv("stanza", n.tag);
}

void WaClient::Impl::on_iq(const Node& n) {
  if (route_response(n)) return;
  // whatsmeow acts on pairing iqs only from the bare server JID with exactly one child.
  const auto from = n.attr_text("from").value_or("");
  if (from != "s.whatsapp.net" && from != "@s.whatsapp.net") return;
  if (n.children().size() != 1) return;
  const Node& c = n.children().front();
  if (c.tag == "pair-device") return on_pair_device(n, c);
  if (c.tag == "pair-success") return on_pair_success(n, c);
}

void WaClient::Impl::on_notification(const Node& n) {
  const std::string type = n.attr_text("type").value_or("");
  if (type == "link_code_companion_reg") return on_link_code_notification(n);
  if (type == "encrypt") return on_pre_key_notification(n);
  if (type == "devices") {
    // A user's device list changed: the sender asks usync again before its next message.
    if (auto from = binary::Jid::parse(n.attr_text("from").value_or(""))) device_cache.invalidate(*from);
    return;
  }
}

}  // namespace wa::client
