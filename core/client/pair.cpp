// QR pairing (whatsmeow's pair.go, reference §6.2-§6.5): pair-device is acked and its refs
// shown one after another as QR strings (published through DeviceStore::set_qr); pair-success
// is verified, the device saved with its jid, pair-device-sign sent; the server's 515 follows.
#include "common/log.h"
#include "common/mask.h"
#include "core/client/client_impl.h"
#include "core/client/pair_success.h"
#include "core/client/qr.h"

namespace wa::client {

void WaClient::Impl::on_pair_device(const Node& iq_node, const Node& pd) {
  send(iq_result(iq_node));
  std::vector<std::string> r;
  for (const auto& c : pd.children()) {
    if (c.tag != "ref") continue;
    const Bytes* b = c.bytes();  // whatsmeow ignores refs that are not BINARY content
    if (!b || b->empty() || b->size() > 1024) continue;
    r.emplace_back(b->begin(), b->end());
  }
  if (dev->paired()) {
    wa::log::warn("wa_client_pair_device_while_paired").kv("business_id", business_id);
    return;
  }
  wa::log::info("wa_client_pairing").kv("business_id", business_id).kv("refs", r.size());
  refs = std::move(r);
  qr_index = 0;
  set_state(ConnectionState::pairing);
  show_qr();
}

void WaClient::Impl::show_qr() {
  if (qr_index >= refs.size()) {
    return end_connection(DisconnectReason::qr_expired,
                          "all " + std::to_string(refs.size()) + " QR codes expired without a scan", false);
  }
  const auto timeout = qr_timeout(qr_index, opt.qr_first_timeout, opt.qr_next_timeout);
  std::string qr;
  try {
    qr = make_qr_string(refs[qr_index], dev->noise_key.pub, dev->identity_key.pub, dev->adv_secret);
  } catch (const std::exception& e) {
    wa::log::warn("wa_client_bad_ref").kv("business_id", business_id).kv("error", e.what());
    ++qr_index;
    return show_qr();
  }
  const auto expires = std::chrono::system_clock::now() + timeout;
  if (!store_write("set qr", [&] { store->set_qr(qr, expires); })) return;
  wa::log::info("wa_client_qr")
      .kv("business_id", business_id)
      .kv("index", qr_index)
      .kv("expires_in_ms", static_cast<std::int64_t>(timeout.count()));
  qr_timer.expires_after(timeout);
  const auto g = gen;
  qr_timer.async_wait(alive([this, g](std::error_code ec) {
    if (ec || g != gen) return;
    ++qr_index;
    show_qr();
  }));
}

void WaClient::Impl::on_pair_success(const Node& iq_node, const Node& ps) {
  const std::string id = iq_node.attr_text("id").value_or("");
  const Node* di = ps.child("device-identity");
  const Node* device = ps.child("device");
  if (!di || !di->bytes() || !device || !device->attr("jid")) {
    wa::log::warn("wa_client_pair_success_malformed").kv("business_id", business_id);
    return send(pair_error(id, 500, "internal-error"));
  }
  PairedIdentity pi;
  try {
    pi = verify_pair_success(*di->bytes(), dev->adv_secret, dev->identity_key);
  } catch (const PairError& e) {
    wa::log::warn("wa_client_pair_rejected")
        .kv("business_id", business_id)
        .kv("code", e.code())
        .kv("error", e.what());
    return send(pair_error(id, e.code(), e.text()));
  }
  auto jid = binary::Jid::parse(device->attr_text("jid").value_or(""));
  if (!jid || jid->user.empty() || !jid->is_user()) {
    wa::log::warn("wa_client_pair_success_bad_jid").kv("business_id", business_id);
    return send(pair_error(id, 500, "internal-error"));
  }
  DeviceKeys d = *dev;
  d.jid = jid->to_string();
  d.lid = device->attr_text("lid").value_or("");
  d.account = pi.account;
  if (const Node* p = ps.child("platform")) d.platform = p->attr_text("name").value_or("");
  if (const Node* b = ps.child("biz")) d.business_name = b->attr_text("name").value_or("");
  if (!store_write("save paired device", [&] { store->save_device(d); })) return;
  if (!store_write("set paired jid", [&] { store->set_paired(d.jid); })) return;
  store_write(
      "clear qr", [&] { store->clear_qr(); }, false);
  dev = std::move(d);
  {
    std::lock_guard lk(jid_mu);
    own_jid = dev->jid;
  }
  qr_timer.cancel();
  pair_code.reset();
  expect_restart = true;
  just_paired = true;
  wa::log::info("wa_client_paired")
      .kv("business_id", business_id)
      .kv("jid", wa::mask_jid(dev->jid))
      .kv("platform", dev->platform);
  send(pair_device_sign(id, pi.key_index, pi.reply));
  send(unified_session(
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count()));
}

}  // namespace wa::client
