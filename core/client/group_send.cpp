#include "core/client/group_send.h"

#include <set>

#include "core/binary/iq_answer.h"
#include "core/client/message_content.h"
#include "core/client/phash.h"
#include "core/signal/group_cipher.h"
#include "core/signal/padding.h"
#include "core/signal/session_cipher.h"

namespace wa::client {

using binary::Jid;
using binary::Node;
using binary::NodeList;

Node group_info_query(const std::string& id, const Jid& group) {
  return Node{"iq",
              {{"id", id}, {"xmlns", std::string("w:g2")}, {"type", std::string("get")}, {"to", group.to_non_ad()}},
              NodeList{Node{"query", {{"request", std::string("interactive")}}, {}}}};
}

std::vector<Jid> parse_group_participants(const Node& iq) {
  std::vector<Jid> out;
  for (const auto& [_, j] : binary::answer_items<GroupInfoError>(iq, {"group"}, "participant",
                                                                 kMaxGroupParticipants, "group info")) {
    if (!j.is_user() && !j.is_lid())
      throw GroupInfoError("group info: a participant that is neither a user nor a lid");
    out.push_back(j.to_non_ad());
  }
  if (out.empty()) throw GroupInfoError("group info without participants");
  return out;
}

signal::SenderKeyName own_sender_key_name(const Jid& group, const OwnIdentity& own) {
  return signal::SenderKeyName{group.to_non_ad().to_string(), signal::Address::from_jid(own.lid.value_or(own.device))};
}

GroupMessage group_message(signal::ProtocolStore& store, const std::string& id, const Jid& group,
                           const std::vector<Jid>& devices, const OwnIdentity& own, crypto::ByteView message,
                           crypto::ByteView device_identity, const std::vector<std::string>& have_key) {
  const std::string group_text = group.to_non_ad().to_string();
  const auto name = own_sender_key_name(group, own);
  const auto skdm = signal::create_sender_key_distribution(store, name);
  const auto skdm_message = encode_sender_key_distribution(group_text, skdm);
  // The skmsg after the SKDM: the SKDM carries the sender key state before this message's iteration.
  const auto skmsg = signal::group_encrypt(store, name, signal::pad(message));
  const std::set<std::string> have(have_key.begin(), have_key.end());
  std::vector<Jid> members, need;
  for (const auto& d : devices) {
    if (is_this_device(d, own)) continue;
    members.push_back(d);
    if (!have.count(signal::Address::from_jid(d).to_string())) need.push_back(d);
  }
  // Our other devices get the SKDM like everyone else (no DeviceSentMessage in groups).
  Fanout fan = encrypt_fanout(store, need, own, skdm_message, skdm_message);
  GroupMessage out;
  out.devices = fan.devices.size();
  out.any_pkmsg = fan.any_pkmsg;
  for (const auto& d : fan.devices) out.skdm_devices.push_back(signal::Address::from_jid(d).to_string());
  const auto phash = participant_hash(members);
  out.stanza = message_stanza(id, group, kTextType, std::move(fan), device_identity, phash);
  std::get<NodeList>(out.stanza.content)
      .push_back(Node{"enc", {{"v", std::string("2")}, {"type", std::string("skmsg")}}, skmsg});
  return out;
}

Node group_retry_stanza(signal::ProtocolStore& store, const std::string& id, const Jid& group, const Jid& device,
                        const OwnIdentity& own, crypto::ByteView message, int count,
                        crypto::ByteView device_identity) {
  const std::string group_text = group.to_non_ad().to_string();
  const auto skdm = signal::create_sender_key_distribution(store, own_sender_key_name(group, own));
  // Message{conversation} followed by Message{senderKeyDistributionMessage}: protobuf merges the two.
  auto plain = crypto::to_bytes(message);
  const auto with_key = encode_sender_key_distribution(group_text, skdm);
  plain.insert(plain.end(), with_key.begin(), with_key.end());
  const auto ct = signal::encrypt(store, signal::Address::from_jid(device), signal::pad(plain));
  NodeList children{enc_node(ct, count)};
  if (ct.type == signal::CiphertextType::pkmsg && !device_identity.empty())
    children.push_back(Node{"device-identity", {}, crypto::to_bytes(device_identity)});
  return Node{"message",
              {{"id", id}, {"to", group.to_non_ad()}, {"participant", device}, {"type", std::string(kTextType)}},
              std::move(children)};
}

}  // namespace wa::client
