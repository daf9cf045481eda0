#include "sim/wa_session.h"

#include "common/log.h"
#include "common/mask.h"
#include "core/binary/decoder.h"
#include "core/binary/encoder.h"
#include "core/client/pair_code.h"
#include "core/client/stanzas.h"
#include "core/crypto/crypto_error.h"
#include "core/crypto/random.h"
#include "core/crypto/xeddsa.h"
#include "core/socket/noise_handshake.h"
#include "sim/stanzas.h"
#include "wa_client_payload.pb.h"

namespace wa::sim {
namespace {

using wa::crypto::Bytes;
using wa::crypto::ByteView;

bool parse_proto(google::protobuf::MessageLite& msg, ByteView bytes) {
  return bytes.size() <= wa::socket::kMaxHandshakeMessageSize && msg.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

ByteView view_of(const std::string& s) { return wa::crypto::view(s); }

using wa::client::server_jid;

std::string device_jid_text(std::uint64_t user, std::uint32_t device) {
  return std::to_string(user) + ":" + std::to_string(device) + "@s.whatsapp.net";
}

// The account's LID (sim/addressing.h), with the device named even when it is 0.
Jid lid_of(std::uint64_t user, std::uint32_t device) {
  Jid j = lid_jid(user);
  j.device = static_cast<std::uint16_t>(device);
  return j;
}

std::optional<Bytes> child_bytes(const Node& n, std::string_view tag) {
  const Node* c = n.child(tag);
  if (!c) return std::nullopt;
  if (auto b = c->bytes()) return Bytes(b->begin(), b->end());
  if (auto t = std::get_if<std::string>(&c->content)) return Bytes(t->begin(), t->end());
  return std::nullopt;
}

AdminOutcome admin_error(int status, const std::string& reason) {
  AdminOutcome o;
  o.status = status;
  o.body = wa::json_error_body(reason);
  return o;
}

}  // namespace

WaSession::WaSession(SessionContext ctx, WsLink& link) : ctx_(ctx), link_(link) {
  link_.set_deadline(ctx_.handshake_timeout, "handshake timeout");
}

WaSession::~WaSession() { leave_hub(); }

void WaSession::leave_hub() {
  if (!ctx_.hub) return;
  ctx_.hub->remove_pairing(this);
  if (live_) ctx_.hub->clear_live(*live_, this);
  live_.reset();
  if (code_ && code_->done) {
    code_->done->set_value(admin_error(409, "the connection waiting for the pair code closed"));
    code_->done.reset();
  }
}

void WaSession::on_closed() {
  stage_ = Stage::done;
  if (timer_) timer_->cancel();
  leave_hub();
}

void WaSession::reject(const std::string& kind, const std::string& reason, std::uint16_t ws_code) {
  if (stage_ == Stage::done) return;
  stage_ = Stage::done;
  link_.close(ws_code, kind + ": " + reason, kind);
}

void WaSession::finish(const std::string& reason) {
  if (stage_ == Stage::done) return;
  stage_ = Stage::done;
  // No longer the device's live connection, even before the socket is gone.
  if (live_ && ctx_.hub) ctx_.hub->clear_live(*live_, this);
  live_.reset();
  link_.close(1000, reason);
}

void WaSession::on_binary(std::string_view message) {
  if (stage_ == Stage::done) return;
  try {
    reader_.feed(wa::crypto::view(message));
  } catch (const wa::socket::FrameError& e) {
    reject("frame", e.what());
    return;
  }
  if (stage_ == Stage::client_hello && reader_.header()) {
    const auto v = reader_.header()->dict_version;
    if (v != 2 && v != 3) {
      reject("frame", "unsupported dictionary version " + std::to_string(v));
      return;
    }
    dict_ = v == 2 ? wa::binary::Dict::v2 : wa::binary::Dict::v3;
    ctx_.log->set_dict_version(link_.id(), v);
  }
  while (stage_ != Stage::done) {
    std::optional<Bytes> frame;
    try {
      frame = reader_.next_frame();
    } catch (const wa::socket::FrameError& e) {
      reject("frame", e.what());
      return;
    }
    if (!frame) break;
    on_frame(*frame);
  }
}

void WaSession::on_frame(const Bytes& frame) {
  switch (stage_) {
    case Stage::client_hello: return on_client_hello(frame);
    case Stage::client_finish: return on_client_finish(frame);
    case Stage::live: return on_node_frame(frame);
    case Stage::done: return;
  }
}

// The Noise XX responder is core/socket's ServerHandshake; wasim adds only the framing and
// the "handshake" rejection kind.
void WaSession::on_client_hello(const Bytes& frame) {
  const auto& id = *ctx_.identity;
  try {
    handshake_.emplace(wa::socket::ServerHandshakeConfig{id.noise_static, wa::crypto::to_bytes(id.cert_chain)},
                       reader_.header()->prologue());
    send_frame(handshake_->process_client_hello(frame));
  } catch (const std::exception& e) {  // HandshakeError, CryptoError, std::invalid_argument
    return reject("handshake", std::string("clientHello: ") + e.what());
  }
  stage_ = Stage::client_finish;
}

void WaSession::on_client_finish(const Bytes& frame) {
  Bytes payload;
  try {
    auto fin = handshake_->process_client_finish(frame);
    client_static_ = fin.client_static;
    payload = std::move(fin.client_payload);
  } catch (const std::exception& e) {
    return reject("handshake", std::string("clientFinish: ") + e.what());
  }
  transport_.emplace(handshake_->transport());
  handshake_.reset();
  stage_ = Stage::live;
  link_.set_deadline(std::chrono::milliseconds(0), {});
  ctx_.log->handshake_done(link_.id());
  if (ctx_.io && ctx_.first_stanza_delay.count() > 0) {
    timer_.emplace(*ctx_.io);
    timer_->expires_after(ctx_.first_stanza_delay);
    timer_->async_wait([this, payload, alive = std::weak_ptr<int>(alive_)](const asio::error_code& ec) {
      if (ec || alive.expired() || stage_ == Stage::done) return;
      // Out of on_binary's protection: an exception here must cost this connection only.
      try {
        on_payload(payload);
      } catch (const std::exception& e) {
        wa::log::error("wasim_session_failed").kv("conn", link_.id()).kv("error", e.what());
        reject("internal", "payload handling failed");
      }
    });
  } else {
    on_payload(payload);
  }
}

void WaSession::on_payload(const Bytes& payload_bytes) {
  wa::proto::ClientPayload payload;
  if (!parse_proto(payload, payload_bytes)) return reject("payload", "ClientPayload does not parse");

  if (!payload.has_username() && payload.has_device_pairing_data()) {
    ctx_.log->set_payload_kind(link_.id(), "registration");
    const auto& pd = payload.device_pairing_data();
    if (pd.e_regid().size() != 4 || pd.e_skey_id().size() != 3 || pd.e_ident().size() != 32 ||
        pd.e_skey_val().size() != 32 || pd.e_skey_sig().size() != 64)
      return reject("payload", "devicePairingData keys have the wrong sizes");
    DeviceKeys k;
    for (unsigned char c : pd.e_regid()) k.registration_id = (k.registration_id << 8) | c;
    k.identity = wa::crypto::key32_from(view_of(pd.e_ident()), "identity key");
    for (unsigned char c : pd.e_skey_id()) k.signed_pre_key_id = (k.signed_pre_key_id << 8) | c;
    k.signed_pre_key = wa::crypto::key32_from(view_of(pd.e_skey_val()), "signed pre-key");
    k.signature.assign(pd.e_skey_sig().begin(), pd.e_skey_sig().end());
    Bytes signed_msg{0x05};
    signed_msg.insert(signed_msg.end(), k.signed_pre_key.begin(), k.signed_pre_key.end());
    if (!wa::crypto::xeddsa_verify(k.identity, signed_msg, k.signature))
      return reject("payload", "devicePairingData's signed pre-key signature does not verify");
    reg_keys_ = std::move(k);
    if (ctx_.hub) ctx_.hub->add_pairing(this);
    send_pair_device();
    return;
  }
  if (payload.has_username()) {
    ctx_.log->set_payload_kind(link_.id(), "login");
    const auto user = payload.username();
    const auto device = payload.device();
    auto known = ctx_.devices->find(user, device);
    const bool key_ok = known && known->noise_pub_hex == wa::crypto::to_hex(client_static_);
    if (!known || !key_ok) {
      // The real server answers a login it does not recognise with 401 and closes (§7.6).
      wa::log::info("wasim_login_rejected")
          .kv("conn", link_.id())
          .kv("reason", known ? "noise key mismatch" : "unknown device");
      send_node(failure(401));
      finish("login rejected: failure 401");
      return;
    }
    on_login(user, device);
    return;
  }
  ctx_.log->set_payload_kind(link_.id(), "unknown");
  send_node(failure(400));
  finish("ClientPayload is neither a registration nor a login (failure 400)");
}

void WaSession::send_pair_device() {
  pair_iq_id_ = new_stanza_id();
  pair_refs_ = make_pair_refs(ctx_.pair_refs);
  const auto now = std::chrono::steady_clock::now();
  ref_expiry_.clear();
  for (std::size_t i = 0; i < pair_refs_.size(); ++i) ref_expiry_.push_back(now + ctx_.qr_ttl_first + ctx_.qr_ttl * i);
  // The client gives up when its refs run out; a client that does not is closed a period later.
  link_.set_deadline(ctx_.qr_ttl_first + ctx_.qr_ttl * pair_refs_.size(), "pair-device refs expired");
  wa::log::info("wasim_registration").kv("conn", link_.id()).kv("refs", pair_refs_.size());
  send_node(pair_device_iq(pair_iq_id_, pair_refs_));
}

bool WaSession::issued_ref(const std::string& ref, bool& expired) const {
  expired = false;
  if (stage_ != Stage::live || linking_ || !jid_.empty()) return false;
  for (std::size_t i = 0; i < pair_refs_.size(); ++i) {
    if (pair_refs_[i] != ref) continue;
    expired = std::chrono::steady_clock::now() >= ref_expiry_[i];
    return true;
  }
  return false;
}

AdminOutcome WaSession::link_qr(const ScannedQr& qr, const PhoneRecord& phone) {
  bool expired = false;
  if (!issued_ref(qr.ref, expired)) return admin_error(404, "no connection is waiting for pairing with this ref");
  if (expired) return admin_error(410, "the ref has expired");
  if (!wa::crypto::equal_ct(qr.noise_pub, client_static_))
    return admin_error(422, "the QR's noise key is not the key of the connection that got this ref");
  if (!reg_keys_ || !wa::crypto::equal_ct(qr.identity_pub, reg_keys_->identity))
    return admin_error(422, "the QR's identity key is not the one the connection registered");
  send_pair_success(phone, qr.adv_secret);
  AdminOutcome o;
  o.body = "{\"jid\":";
  wa::log::append_json_string(o.body, jid_);
  o.body += ",\"status\":\"pair-success sent\"}";
  return o;
}

void WaSession::send_pair_success(const PhoneRecord& phone, const wa::crypto::Key32& adv_secret) {
  const auto device = ctx_.phones->allocate_device(phone.user);
  if (!device) throw std::runtime_error("phone vanished while linking");
  const auto key_index = *device;  // one key index per linked companion
  auto signed_id = make_signed_identity(phone.account, adv_secret, reg_keys_->identity,
                                        static_cast<std::uint32_t>(phone.user & 0xFFFFFFFFu), key_index);
  linking_ = Linking{new_stanza_id(), phone, *device, signed_id.details};
  jid_ = device_jid_text(phone.user, *device);
  ctx_.log->set_jid(link_.id(), jid_);
  if (ctx_.hub) ctx_.hub->remove_pairing(this);
  // Pairing has a phone's answer now: no ref deadline, the client has the idle timeout.
  link_.set_deadline(std::chrono::milliseconds(0), {});
  Jid device_jid{std::to_string(phone.user), std::string(wa::binary::server::kUser), 0,
                 static_cast<std::uint16_t>(*device), 0};
  Node ps{"pair-success", {},
          NodeList{Node{"device-identity", {}, signed_id.container},
                   Node{"device", {{"jid", device_jid}, {"lid", lid_of(phone.user, *device)}}, {}},
                   Node{"platform", {{"name", std::string("android")}}, {}}}};
  wa::log::info("wasim_pair_success").kv("conn", link_.id()).kv("jid", wa::mask_jid(jid_));
  send_node(Node{"iq",
                 {{"from", server_jid()}, {"type", std::string("set")}, {"id", linking_->iq_id},
                  {"xmlns", std::string("md")}, {"t", unix_seconds()}},
                 NodeList{ps}});
}

void WaSession::on_pair_sign(const Node& iq) {
  const auto type = iq.attr_text("type").value_or("");
  if (type != "result") {
    const Node* err = iq.child("error");
    wa::log::warn("wasim_pair_refused_by_client")
        .kv("conn", link_.id())
        .kv("code", err ? err->attr_text("code").value_or("") : "")
        .kv("text", err ? err->attr_text("text").value_or("") : "");
    linking_.reset();
    return finish("pair-success refused by the client");
  }
  const Node* sign = iq.child("pair-device-sign");
  const Node* di = sign ? sign->child("device-identity") : nullptr;
  std::optional<std::string> why;
  if (!di || !di->bytes()) {
    why = "pair-device-sign without device-identity bytes";
  } else {
    why = check_device_sign(*di->bytes(), linking_->details, reg_keys_->identity, linking_->phone.account.pub);
    if (!why && di->attr_text("key-index").value_or("") != std::to_string(linking_->device))
      why = "key-index is not the one in the device identity";
  }
  if (why) {
    wa::log::warn("wasim_pair_sign_rejected").kv("conn", link_.id()).kv("reason", *why);
    send_node(Node{"stream:error", {{"code", std::string("401")}}, {}});
    return finish("pair-device-sign rejected: " + *why);
  }
  DeviceRecord rec;
  rec.user = linking_->phone.user;
  rec.device = linking_->device;
  rec.noise_pub_hex = wa::crypto::to_hex(client_static_);
  rec.identity_pub_hex = wa::crypto::to_hex(reg_keys_->identity);
  rec.added_ms = now_unix_ms();
  ctx_.devices->put(rec);
  // The device's identity and signed pre-key are known from its registration: it can be written
  // to from now on, before its first pre-key upload (as on the real service).
  if (ctx_.router) ctx_.router->device_linked({rec.user, rec.device}, *reg_keys_);
  wa::log::info("wasim_device_linked").kv("conn", link_.id()).kv("jid", wa::mask_jid(jid_));
  linking_.reset();
  // As the real service: the pairing connection ends with 515 and the client logs in anew.
  send_node(Node{"stream:error", {{"code", std::string("515")}}, {}});
  finish("paired: stream error 515");
}

bool WaSession::waits_for_code(std::uint64_t user) const {
  return stage_ == Stage::live && code_ && code_->user == user && !code_->done && !linking_ && jid_.empty();
}

void WaSession::link_code(const std::string& code, const PhoneRecord& phone,
                          std::shared_ptr<std::promise<AdminOutcome>> done) {
  if (!waits_for_code(phone.user)) {
    done->set_value(admin_error(409, "the connection is no longer waiting for a pair code"));
    return;
  }
  code_->companion_ephemeral = wa::client::unwrap_ephemeral(code, code_->wrapped_companion);
  code_->primary_ephemeral = wa::crypto::KeyPair::generate();
  code_->phone = phone;
  code_->done = std::move(done);
  const Bytes wrapped = wa::client::wrap_ephemeral(code, code_->primary_ephemeral->pub, wa::crypto::random_bytes(32),
                                                   wa::crypto::random_bytes(16));
  Node reg{"link_code_companion_reg", {},
           NodeList{Node{"link_code_pairing_ref", {}, Bytes(code_->ref.begin(), code_->ref.end())},
                    Node{"primary_identity_pub", {}, Bytes(phone.account.pub.begin(), phone.account.pub.end())},
                    Node{"link_code_pairing_wrapped_primary_ephemeral_pub", {}, wrapped}}};
  wa::log::info("wasim_link_code_entered").kv("conn", link_.id());
  send_node(Node{"notification",
                 {{"from", server_jid()}, {"type", std::string("link_code_companion_reg")}, {"id", new_stanza_id()},
                  {"t", unix_seconds()}},
                 NodeList{reg}});
}

void WaSession::on_link_code_iq(const Node& iq, const Node& reg) {
  const auto stage = reg.attr_text("stage").value_or("");
  if (stage == "companion_hello") {
    auto jid = Jid::parse(reg.attr_text("jid").value_or(""));
    auto wrapped = child_bytes(reg, "link_code_pairing_wrapped_companion_ephemeral_pub");
    auto auth = child_bytes(reg, "companion_server_auth_key_pub");
    std::optional<std::uint64_t> user = jid && jid->is_user() ? parse_phone(jid->user) : std::nullopt;
    if (!user || !wrapped || wrapped->size() != 80 || !auth || auth->size() != 32)
      return send_node(iq_error(iq, 400, "bad-request"));
    if (!wa::crypto::equal_ct(*auth, client_static_) || jid_.size() || linking_)
      return send_node(iq_error(iq, 400, "bad-request"));
    if (code_ && code_->done) return send_node(iq_error(iq, 409, "conflict"));
    code_ = CodeState{};
    code_->user = *user;
    code_->wrapped_companion = *wrapped;
    code_->ref = make_pair_refs(1).front();
    wa::log::info("wasim_link_code_hello").kv("conn", link_.id()).kv("phone", wa::mask_phone(std::to_string(*user)));
    return send_node(iq_reply(
        iq, "result",
        {Node{"link_code_companion_reg", {},
              NodeList{Node{"link_code_pairing_ref", {}, Bytes(code_->ref.begin(), code_->ref.end())}}}}));
  }
  if (stage == "companion_finish") {
    if (!code_ || !code_->primary_ephemeral || !code_->done) return send_node(iq_error(iq, 400, "bad-request"));
    auto bundle = child_bytes(reg, "link_code_pairing_wrapped_key_bundle");
    auto identity = child_bytes(reg, "companion_identity_public");
    auto ref = child_bytes(reg, "link_code_pairing_ref");
    auto done = std::move(code_->done);
    auto phone = *code_->phone;
    std::string why;
    wa::crypto::Key32 adv{};
    if (!bundle || !identity || identity->size() != 32 || !ref) {
      why = "companion_finish lacks the key bundle, identity or ref";
    } else if (std::string(ref->begin(), ref->end()) != code_->ref) {
      why = "companion_finish names another ref";
    } else if (!wa::crypto::equal_ct(*identity, reg_keys_->identity)) {
      why = "companion_finish identity is not the registered one";
    } else {
      try {
        adv = primary_finish(*code_->primary_ephemeral, code_->companion_ephemeral, phone.account, reg_keys_->identity, *bundle);
      } catch (const std::invalid_argument& e) {
        why = e.what();
      }
    }
    code_.reset();
    if (!why.empty()) {
      wa::log::warn("wasim_link_code_failed").kv("conn", link_.id()).kv("reason", why);
      send_node(iq_error(iq, 401, "not-authorized"));
      done->set_value(admin_error(422, why));
      return;
    }
    send_node(iq_reply(iq, "result"));
    send_pair_success(phone, adv);
    AdminOutcome o;
    o.body = "{\"jid\":";
    wa::log::append_json_string(o.body, jid_);
    o.body += ",\"status\":\"pair-success sent\"}";
    done->set_value(o);
    return;
  }
  send_node(iq_error(iq, 400, "bad-request"));
}

void WaSession::on_login(std::uint64_t user, std::uint32_t device) {
  const SessionHub::DeviceKey key{user, device};
  jid_ = device_jid_text(user, device);
  ctx_.log->set_jid(link_.id(), jid_);
  if (ctx_.hub) {
    // One live connection per device: the older one is told it was replaced and closed.
    if (WaSession* old = ctx_.hub->set_live(key, this)) {
      old->live_.reset();
      old->stream_error(-1, "replaced", "replaced by a newer login");
      ctx_.log->count_login_replaced();
    }
    live_ = key;
  }
  ctx_.log->logged_in(link_.id());
  addressing_ = addressing_for(ctx_.addressing, dict_ == wa::binary::Dict::v2 ? 2 : 3);
  wa::log::info("wasim_login")
      .kv("conn", link_.id())
      .kv("jid", wa::mask_jid(jid_))
      .kv("addressing", to_string(addressing_));
  send_node(Node{"success",
                 {{"t", unix_seconds()},
                  {"props", std::string("1")},
                  {"abprops", std::string("1")},
                  {"location", std::string("wasim")},
                  {"lid", lid_of(user, device)},
                  {"creation", unix_seconds()}},
                 {}});
  if (ctx_.router && live_) ctx_.router->on_login(*this, key);
}

void WaSession::stream_error(int code, const std::string& conflict_type, const std::string& reason) {
  if (stage_ != Stage::live) return;
  Node n{"stream:error", {}, {}};
  if (code > 0) n.attrs.push_back({"code", std::to_string(code)});
  if (!conflict_type.empty()) n.content = NodeList{Node{"conflict", {{"type", conflict_type}}, {}}};
  wa::log::info("wasim_stream_error").kv("conn", link_.id()).kv("code", code).kv("conflict", conflict_type);
  send_node(n);
  finish(reason);
}

bool WaSession::on_logged_in_iq(const Node& iq) {
  const auto xmlns = iq.attr_text("xmlns").value_or("");
  const auto type = iq.attr_text("type").value_or("");
  if (xmlns == "md" && type == "set" && live_ && iq.attr("id") && iq.child("remove-companion-device")) {
    // A companion logging itself out: as the admin logout (sim/phone_routes.cpp), after the answer.
    const SessionHub::DeviceKey k = *live_;
    send_node(iq_reply(iq, "result"));
    if (ctx_.devices) ctx_.devices->remove(k.first, k.second);
    if (ctx_.hub) ctx_.hub->forget(k);
    if (ctx_.router) ctx_.router->forget(k);
    wa::log::info("wasim_device_logged_out").kv("jid", wa::mask_jid(jid_)).kv("by", "companion");
    stream_error(401, "device_removed", "logged out by the companion");
    return true;
  }
  if (xmlns != "encrypt" || !live_ || !iq.attr("id")) return false;
  if (type == "get" && iq.child("count")) {
    send_node(iq_reply(iq, "result", {Node{"count", {{"value", std::to_string(ctx_.hub->pre_keys(*live_))}}, {}}}));
    return true;
  }
  if (type == "set") {
    const Node* list = iq.child("list");
    std::uint32_t n = 0;
    if (list)
      if (auto kids = std::get_if<NodeList>(&list->content))
        for (const auto& k : *kids) n += k.tag == "key" ? 1 : 0;
    ctx_.hub->add_pre_keys(*live_, n);
    send_node(iq_reply(iq, "result"));
    return true;
  }
  return false;
}

void WaSession::on_node_frame(const Bytes& frame) {
  Bytes plain;
  try {
    plain = transport_->decrypt(frame);
  } catch (const wa::crypto::CryptoError& e) {
    return reject("frame", std::string("transport frame does not decrypt: ") + e.what());
  }
  wa::binary::Node node;
  try {
    node = wa::binary::decode_frame(plain, dict_);
  } catch (const wa::binary::DecodeError& e) {
    return reject("node", e.what());
  }
  if (node.tag == "iq" && !pair_iq_id_.empty() && node.attr_text("id") == pair_iq_id_) {
    wa::log::info("wasim_pair_device_acked").kv("conn", link_.id()).kv("type", node.attr_text("type").value_or(""));
    return;
  }
  if (node.tag == "iq" && linking_ && node.attr_text("id") == linking_->iq_id) return on_pair_sign(node);
  if (node.tag == "iq" && reg_keys_) {
    if (const Node* reg = node.child("link_code_companion_reg"); reg && node.attr_text("type") == std::optional<std::string>("set"))
      return on_link_code_iq(node, *reg);
  }
  if (live_ && ctx_.router && ctx_.router->handle(*this, *live_, node)) return;
  if (node.tag == "iq" && on_logged_in_iq(node)) return;
  for (const auto& reply : reply_to(node)) send_node(reply);
}

void WaSession::send_frame(ByteView payload) {
  Bytes out = wa::socket::encode_frame(payload);
  link_.send_binary(std::string(out.begin(), out.end()));
}

void WaSession::send_node(const wa::binary::Node& node) {
  Bytes plain = wa::binary::encode(node, dict_);
  send_frame(transport_->encrypt(plain));
}

}  // namespace wa::sim
