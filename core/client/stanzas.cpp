#include "core/client/stanzas.h"

#include "core/crypto/random.h"

namespace wa::client {

using binary::Attr;
using binary::NodeList;

IqIds::IqIds() {
  auto r = crypto::random_bytes(2);
  prefix_ = std::to_string(r[0]) + "." + std::to_string(r[1]) + "-";
}

std::string IqIds::next() { return prefix_ + std::to_string(++counter_); }

binary::Jid server_jid() { return binary::Jid{"", std::string(binary::server::kUser), 0, std::nullopt, 0}; }

Bytes be3(std::uint32_t v) { return {std::uint8_t(v >> 16), std::uint8_t(v >> 8), std::uint8_t(v)}; }
Bytes be4(std::uint32_t v) { return {std::uint8_t(v >> 24), std::uint8_t(v >> 16), std::uint8_t(v >> 8), std::uint8_t(v)}; }

namespace {
Node bytes_node(std::string tag, Bytes b) { return Node{std::move(tag), {}, std::move(b)}; }
Bytes key_bytes(const Key32& k) { return Bytes(k.begin(), k.end()); }
}  // namespace

Node iq(const std::string& id, const std::string& type, const std::string& xmlns, NodeList children) {
  Node n{"iq", {{"id", id}, {"xmlns", xmlns}, {"type", type}, {"to", server_jid()}}, {}};
  if (!children.empty()) n.content = std::move(children);
  return n;
}

Node keepalive_ping(const std::string& id) { return iq(id, "get", "w:p"); }

Node remove_companion_device(const std::string& id, const std::string& device_jid) {
  return iq(id, "set", "md",
            {Node{"remove-companion-device", {{"jid", device_jid}, {"reason", std::string("user_initiated")}}, {}}});
}

Node pre_key_count(const std::string& id) { return iq(id, "get", "encrypt", {Node{"count", {}, {}}}); }

Node pre_key_upload(const std::string& id, const DeviceKeys& d, const std::vector<PreKey>& keys) {
  NodeList list;
  list.reserve(keys.size());
  for (const auto& k : keys) {
    list.push_back(Node{"key", {}, NodeList{bytes_node("id", be3(k.id)), bytes_node("value", key_bytes(k.pair.pub))}});
  }
  Node skey{"skey", {},
            NodeList{bytes_node("id", be3(d.signed_pre_key.id)), bytes_node("value", key_bytes(d.signed_pre_key.pair.pub)),
                     bytes_node("signature", d.signed_pre_key.signature)}};
  return iq(id, "set", "encrypt",
            {bytes_node("registration", be4(d.registration_id)), bytes_node("type", Bytes{0x05}),
             bytes_node("identity", key_bytes(d.identity_key.pub)), Node{"list", {}, std::move(list)}, std::move(skey)});
}

Node passive_active(const std::string& id) { return iq(id, "set", "passive", {Node{"active", {}, {}}}); }

Node iq_result(const Node& request) {
  Node n{"iq", {}, {}};
  if (const auto* from = request.attr("from")) n.attrs.push_back({"to", *from});
  else n.attrs.push_back({"to", server_jid()});
  n.attrs.push_back({"type", std::string("result")});
  n.attrs.push_back({"id", request.attr_text("id").value_or("")});
  return n;
}

Node pair_device_sign(const std::string& id, std::uint32_t key_index, const Bytes& reply) {
  Node di{"device-identity", {{"key-index", std::to_string(key_index)}}, reply};
  Node sign{"pair-device-sign", {}, NodeList{std::move(di)}};
  return Node{"iq", {{"to", server_jid()}, {"type", std::string("result")}, {"id", id}}, NodeList{std::move(sign)}};
}

Node pair_error(const std::string& id, int code, const std::string& text) {
  Node err{"error", {{"code", std::to_string(code)}, {"text", text}}, {}};
  return Node{"iq", {{"to", server_jid()}, {"type", std::string("error")}, {"id", id}}, NodeList{std::move(err)}};
}

Node ack_for(const Node& stanza) {
  Node n{"ack", {{"class", stanza.tag}, {"id", stanza.attr_text("id").value_or("")}}, {}};
  if (const auto* from = stanza.attr("from")) n.attrs.push_back({"to", *from});
  for (const char* k : {"participant", "recipient"}) {
    if (const auto* v = stanza.attr(k)) n.attrs.push_back({k, *v});
  }
  if (stanza.tag != "message") {
    if (const auto* t = stanza.attr("type")) n.attrs.push_back({"type", *t});
  }
  return n;
}

Node unified_session(std::int64_t unix_ms) {
  constexpr std::int64_t day = 24LL * 3600 * 1000;
  const std::int64_t v = (unix_ms + 3 * day) % (7 * day);
  return Node{"ib", {}, NodeList{Node{"unified_session", {{"id", std::to_string(v)}}, {}}}};
}

Node link_code_hello(const std::string& id, const std::string& phone_digits, bool show_push, const Bytes& wrapped,
                     const Key32& noise_pub, const std::string& platform_id, const std::string& platform_display) {
  binary::Jid phone{phone_digits, std::string(binary::server::kUser), 0, std::nullopt, 0};
  Node reg{"link_code_companion_reg",
           {{"jid", phone}, {"stage", std::string("companion_hello")},
            {"should_show_push_notification", std::string(show_push ? "true" : "false")}},
           NodeList{bytes_node("link_code_pairing_wrapped_companion_ephemeral_pub", wrapped),
                    bytes_node("companion_server_auth_key_pub", key_bytes(noise_pub)),
                    Node{"companion_platform_id", {}, platform_id},
                    Node{"companion_platform_display", {}, platform_display},
                    bytes_node("link_code_pairing_nonce", Bytes{0x00})}};
  return iq(id, "set", "md", {std::move(reg)});
}

Node link_code_finish(const std::string& id, const std::string& phone_digits, const Bytes& bundle,
                      const Key32& identity_pub, const Bytes& ref) {
  binary::Jid phone{phone_digits, std::string(binary::server::kUser), 0, std::nullopt, 0};
  Node reg{"link_code_companion_reg", {{"jid", phone}, {"stage", std::string("companion_finish")}},
           NodeList{bytes_node("link_code_pairing_wrapped_key_bundle", bundle),
                    bytes_node("companion_identity_public", key_bytes(identity_pub)),
                    bytes_node("link_code_pairing_ref", ref)}};
  return iq(id, "set", "md", {std::move(reg)});
}

}  // namespace wa::client
