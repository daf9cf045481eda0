// <success>: the device is logged in (first login after pairing, or a resume). Then what
// whatsmeow sends first (reference §7.2): the pre-key count (and an upload), then passive off.
#include "common/log.h"
#include "common/mask.h"
#include "core/client/client_impl.h"

namespace wa::client {

void WaClient::Impl::on_success(const Node& n) {
  if (!dev || !dev->paired()) {
    wa::log::warn("wa_client_success_unpaired").kv("business_id", business_id);
    return;
  }
  backoff.reset();
  expect_restart = false;
  const bool resumed = !just_paired;
  just_paired = false;
  if (auto lid = n.attr_text("lid"); lid && dev->lid.empty()) {
    DeviceKeys d = *dev;
    d.lid = *lid;
    if (!store_write("save lid", [&] { store->save_device(d); })) return;
    dev = std::move(d);
  }
  wa::log::info("wa_client_logged_in")
      .kv("business_id", business_id)
      .kv("jid", wa::mask_jid(dev->jid))
      .kv("resumed", resumed);
  set_state(ConnectionState::logged_in);
  if (!store_write(
          "report connected", [&] { store->report_connected(resumed); }, false) &&
      (stopped.load() || gave_up))
    return;
  last_activity_report = Clock::now();
  // Messages sent on the previous connection without a server ack go again (same ids), then
  // whatever is queued.
  requeue_unacked();
  pump_outbox();
  const auto g = gen;
  check_pre_keys(g, [this, g] {
    if (g == gen)
      send_iq(
          passive_active(ids.next()), [](const IqResult&) {}, opt.iq_timeout);
  });
}

}  // namespace wa::client
