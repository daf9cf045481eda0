#include "sim/wa_session.h"

#include "common/log.h"
#include "core/binary/decoder.h"
#include "core/binary/encoder.h"
#include "core/crypto/crypto_error.h"
#include "sim/stanzas.h"
#include "wa_client_payload.pb.h"
#include "wa_handshake.pb.h"

namespace wa::sim {
namespace {

using wa::crypto::Bytes;
using wa::crypto::ByteView;

constexpr std::size_t kMaxHandshakeFrame = 64 * 1024;  // a ClientFinish is well under 2 KiB

bool parse_proto(google::protobuf::MessageLite& msg, ByteView bytes) {
  return bytes.size() <= kMaxHandshakeFrame && msg.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

ByteView view_of(const std::string& s) { return wa::crypto::view(s); }

}  // namespace

WaSession::WaSession(SessionContext ctx, WsLink& link) : ctx_(ctx), link_(link) {
  link_.set_deadline(ctx_.handshake_timeout, "handshake timeout");
}

void WaSession::on_closed() { stage_ = Stage::done; }

void WaSession::reject(const std::string& kind, const std::string& reason, std::uint16_t ws_code) {
  if (stage_ == Stage::done) return;
  stage_ = Stage::done;
  link_.close(ws_code, kind + ": " + reason, kind);
}

void WaSession::finish(const std::string& reason) {
  if (stage_ == Stage::done) return;
  stage_ = Stage::done;
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

void WaSession::on_client_hello(const Bytes& frame) {
  wa::proto::HandshakeMessage msg;
  if (!parse_proto(msg, frame) || !msg.has_client_hello())
    return reject("handshake", "first frame is not a HandshakeMessage with clientHello");
  const auto& client_eph_s = msg.client_hello().ephemeral();
  if (client_eph_s.size() != 32) return reject("handshake", "clientHello ephemeral must be 32 bytes");
  const auto client_eph = wa::crypto::key32_from(view_of(client_eph_s), "client ephemeral");
  try {
    // Mirror of the client's steps 1-8 (reference §2).
    noise_.mix_hash(reader_.header()->prologue());
    noise_.mix_hash(client_eph);
    ephemeral_ = wa::crypto::KeyPair::generate();
    noise_.mix_hash(ephemeral_.pub);
    noise_.mix_key(wa::crypto::x25519(ephemeral_.priv, client_eph));
    const auto& id = *ctx_.identity;
    Bytes enc_static = noise_.encrypt(id.noise_static.pub);
    noise_.mix_key(wa::crypto::x25519(id.noise_static.priv, client_eph));
    Bytes enc_payload = noise_.encrypt(view_of(id.cert_chain));

    wa::proto::HandshakeMessage reply;
    auto* sh = reply.mutable_server_hello();
    sh->set_ephemeral(ephemeral_.pub.data(), ephemeral_.pub.size());
    sh->set_static_(enc_static.data(), enc_static.size());
    sh->set_payload(enc_payload.data(), enc_payload.size());
    send_frame(view_of(reply.SerializeAsString()));
  } catch (const wa::crypto::CryptoError& e) {
    return reject("handshake", std::string("clientHello: ") + e.what());
  }
  stage_ = Stage::client_finish;
}

void WaSession::on_client_finish(const Bytes& frame) {
  wa::proto::HandshakeMessage msg;
  if (!parse_proto(msg, frame) || !msg.has_client_finish())
    return reject("handshake", "second frame is not a HandshakeMessage with clientFinish");
  const auto& fin = msg.client_finish();
  if (fin.static_().size() != 48) return reject("handshake", "clientFinish static must be 48 bytes");
  Bytes payload;
  try {
    Bytes client_static = noise_.decrypt(view_of(fin.static_()));
    client_static_ = wa::crypto::key32_from(client_static, "client static key");
    noise_.mix_key(wa::crypto::x25519(ephemeral_.priv, client_static_));
    payload = noise_.decrypt(view_of(fin.payload()));
  } catch (const wa::crypto::CryptoError& e) {
    return reject("handshake", std::string("clientFinish does not decrypt: ") + e.what());
  } catch (const std::invalid_argument& e) {
    return reject("handshake", std::string("clientFinish: ") + e.what());
  }
  // The server writes with the second half of the split and reads with the first.
  auto [c2s, s2c] = noise_.split();
  transport_.emplace(s2c, c2s);
  stage_ = Stage::live;
  link_.set_deadline(std::chrono::milliseconds(0), {});
  ctx_.log->handshake_done(link_.id());
  on_payload(payload);
}

void WaSession::on_payload(const Bytes& payload_bytes) {
  wa::proto::ClientPayload payload;
  if (!parse_proto(payload, payload_bytes)) return reject("payload", "ClientPayload does not parse");

  if (!payload.has_username() && payload.has_device_pairing_data()) {
    ctx_.log->set_payload_kind(link_.id(), "registration");
    const auto& pd = payload.device_pairing_data();
    if (pd.e_ident().size() != 32 || pd.e_skey_val().size() != 32 || pd.e_skey_sig().size() != 64)
      return reject("payload", "devicePairingData keys have the wrong sizes");
    pair_iq_id_ = new_stanza_id();
    pair_refs_ = make_pair_refs(ctx_.pair_refs);
    wa::log::info("wasim_registration").kv("conn", link_.id()).kv("refs", pair_refs_.size());
    send_node(pair_device_iq(pair_iq_id_, pair_refs_));
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
    // Completing logins belongs to issue 4 (pairing); until then a known device gets 501.
    send_node(failure(501));
    finish("login of a known device: not implemented yet (failure 501)");
    return;
  }
  ctx_.log->set_payload_kind(link_.id(), "unknown");
  send_node(failure(400));
  finish("ClientPayload is neither a registration nor a login (failure 400)");
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
