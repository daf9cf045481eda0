#include "core/client/outgoing_message.h"

#include "core/signal/padding.h"
#include "core/signal/session_cipher.h"
#include "core/signal/signal_error.h"

namespace wa::client {

using binary::Jid;
using binary::Node;
using binary::NodeList;

Node enc_node(const signal::Ciphertext& ct, std::optional<int> count) {
  Node n{"enc", {{"v", std::string("2")}, {"type", std::string(signal::to_string(ct.type))}}, ct.data};
  if (count) n.attrs.push_back({"count", std::to_string(*count)});
  return n;
}

Fanout encrypt_fanout(signal::ProtocolStore& store, const std::vector<Jid>& devices, const OwnIdentity& own,
                      crypto::ByteView plaintext, crypto::ByteView own_plaintext) {
  Fanout out;
  const auto padded = signal::pad(plaintext);
  const auto own_padded = signal::pad(own_plaintext);
  for (const auto& d : devices) {
    if (is_this_device(d, own)) continue;
    const auto addr = signal::Address::from_jid(d);
    if (!signal::has_session(store, addr)) {
      out.skipped.emplace_back(d, "no session");
      continue;
    }
    const auto ct = signal::encrypt(store, addr, is_own_account(d, own) ? own_padded : padded);
    out.any_pkmsg = out.any_pkmsg || ct.type == signal::CiphertextType::pkmsg;
    out.participants.push_back(Node{"to", {{"jid", d}}, NodeList{enc_node(ct)}});
    out.devices.push_back(d);
  }
  return out;
}

Node message_stanza(const std::string& id, const Jid& to, const std::string& type, Fanout fanout,
                    crypto::ByteView device_identity, const std::optional<std::string>& phash) {
  Node msg{"message", {{"id", id}, {"to", to.to_non_ad()}, {"type", type}}, {}};
  if (phash) msg.attrs.push_back({"phash", *phash});
  NodeList children;
  // Empty only for a group message whose members all hold our sender key: skmsg alone, as Baileys.
  if (!fanout.participants.empty()) children.push_back(Node{"participants", {}, std::move(fanout.participants)});
  if (fanout.any_pkmsg && !device_identity.empty())
    children.push_back(Node{"device-identity", {}, crypto::to_bytes(device_identity)});
  msg.content = std::move(children);
  return msg;
}

Node resend_stanza(signal::ProtocolStore& store, const std::string& id, const Jid& device, const std::string& type,
                   crypto::ByteView padded_plaintext, int count, crypto::ByteView device_identity) {
  const auto ct = signal::encrypt(store, signal::Address::from_jid(device), padded_plaintext);
  Node msg{"message", {{"id", id}, {"to", device}, {"type", type}}, {}};
  if (!device.is_group()) msg.attrs.push_back({"device_fanout", std::string("false")});
  NodeList children{enc_node(ct, count)};
  if (ct.type == signal::CiphertextType::pkmsg && !device_identity.empty())
    children.push_back(Node{"device-identity", {}, crypto::to_bytes(device_identity)});
  msg.content = std::move(children);
  return msg;
}

}  // namespace wa::client
