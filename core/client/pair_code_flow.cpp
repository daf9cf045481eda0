// Phone-number pairing (whatsmeow's pair-code.go, reference §6.6): companion_hello with our
// wrapped ephemeral key returns a pairing ref; the phone's link_code_companion_reg notification
// carries its wrapped key, from which companion_finish derives the adv secret and the key bundle
// we send back. The pair-success that follows is handled as for QR pairing (pair.cpp).
#include "common/log.h"
#include "common/mask.h"
#include "core/client/client_impl.h"
#include "core/client/pair_code.h"
#include "core/crypto/random.h"

namespace wa::client {

void WaClient::Impl::start_pair_code(const std::string& digits, bool show_push,
                                     std::shared_ptr<std::promise<std::string>> done) {
  auto fail = [&](const std::string& why) {
    done->set_exception(std::make_exception_ptr(PairCodeError(why)));
  };
  if (stopped.load() || st.load() != ConnectionState::pairing || !dev || dev->paired()) {
    return fail("the account is not waiting for pairing (state " + std::string(core::to_string(st.load())) +
                ")");
  }
  PairCodeState pc;
  pc.code = new_linking_code();
  pc.phone = digits;
  pc.ephemeral = KeyPair::generate();
  Bytes wrapped;
  try {
    wrapped = wrap_ephemeral(pc.code, pc.ephemeral.pub, crypto::random_bytes(32), crypto::random_bytes(16));
  } catch (const std::exception& e) {
    return fail(std::string("cannot wrap the companion key: ") + e.what());
  }
  const std::string id = ids.next();
  auto hello = link_code_hello(id, digits, show_push, wrapped, dev->noise_key.pub, "1", opt.platform_display);
  pair_code = std::move(pc);
  send_iq(
      hello,
      [this, done](const IqResult& res) {
        if (res.kind == IqResult::Kind::timeout)
          return done->set_exception(std::make_exception_ptr(PairCodeError("no answer to companion_hello")));
        if (!res.answered())
          return done->set_exception(std::make_exception_ptr(
              PairCodeError("the connection ended before the answer to companion_hello")));
        const Node* r = res.node;
        if (!res.ok()) {
          std::string why = "server refused companion_hello";
          if (const Node* e = r->child("error"))
            why += " (code " + e->attr_text("code").value_or("?") + " " + e->attr_text("text").value_or("") +
                   ")";
          return done->set_exception(std::make_exception_ptr(PairCodeError(why)));
        }
        const Node* reg = r->child("link_code_companion_reg");
        const Node* ref = reg ? reg->child("link_code_pairing_ref") : nullptr;
        if (!ref || !ref->bytes() || !pair_code) {
          return done->set_exception(
              std::make_exception_ptr(PairCodeError("companion_hello answer has no link_code_pairing_ref")));
        }
        pair_code->ref = *ref->bytes();
        wa::log::info("wa_client_pair_code")
            .kv("business_id", business_id)
            .kv("phone", wa::mask_phone(pair_code->phone));
        done->set_value(pair_code->code);
      },
      opt.iq_timeout);
}

void WaClient::Impl::on_link_code_notification(const Node& n) {
  const Node* reg = n.child("link_code_companion_reg");
  if (!reg || !pair_code || pair_code->ref.empty()) {
    wa::log::warn("wa_client_link_code_unexpected").kv("business_id", business_id);
    return;
  }
  const Node* ref = reg->child("link_code_pairing_ref");
  const Node* primary_id = reg->child("primary_identity_pub");
  const Node* wrapped = reg->child("link_code_pairing_wrapped_primary_ephemeral_pub");
  if (!ref || !ref->bytes() || *ref->bytes() != pair_code->ref) {
    wa::log::warn("wa_client_link_code_ref_mismatch").kv("business_id", business_id);
    return;
  }
  if (!primary_id || !primary_id->bytes() || primary_id->bytes()->size() != 32 || !wrapped ||
      !wrapped->bytes()) {
    wa::log::warn("wa_client_link_code_malformed").kv("business_id", business_id);
    return;
  }
  CompanionFinish fin;
  try {
    fin = companion_finish(pair_code->code, pair_code->ephemeral, *wrapped->bytes(),
                           crypto::key32_from(*primary_id->bytes(), "primary identity"), dev->identity_key,
                           crypto::random_bytes(32), crypto::random_bytes(32), crypto::random_bytes(12));
  } catch (const std::exception& e) {
    wa::log::warn("wa_client_link_code_failed").kv("business_id", business_id).kv("error", e.what());
    return;
  }
  DeviceKeys d = *dev;
  d.adv_secret = fin.adv_secret;
  if (!store_write("save pair-code adv secret", [&] { store->save_device(d); })) return;
  dev = std::move(d);
  const std::string id = ids.next();
  send_iq(
      link_code_finish(id, pair_code->phone, fin.wrapped_key_bundle, dev->identity_key.pub, pair_code->ref),
      [this](const IqResult& r) {
        if (!r.ok())
          wa::log::warn("wa_client_link_code_finish_refused")
              .kv("business_id", business_id)
              .kv("result", r.describe());
      },
      opt.iq_timeout);
}

}  // namespace wa::client
