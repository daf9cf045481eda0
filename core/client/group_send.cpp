#include "core/client/group_send.h"

#include "core/client/message_content.h"
#include "core/client/phash.h"
#include "core/signal/group_cipher.h"
#include "core/signal/padding.h"

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
  if (iq.attr_text("type").value_or("") != "result") throw GroupInfoError("group info answered with an error");
  const Node* group = iq.child("group");
  if (!group) throw GroupInfoError("group info without <group>");
  if (group->children().size() > kMaxGroupParticipants) throw GroupInfoError("group info lists too many participants");
  std::vector<Jid> out;
  for (const auto& p : group->children()) {
    if (p.tag != "participant") continue;
    auto j = Jid::parse(p.attr_text("jid").value_or(""));
    if (!j || j->is_server() || (!j->is_user() && !j->is_lid())) throw GroupInfoError("group info: bad participant");
    out.push_back(j->to_non_ad());
  }
  if (out.empty()) throw GroupInfoError("group info without participants");
  return out;
}

GroupMessage group_message(signal::ProtocolStore& store, const std::string& id, const Jid& group,
                           const std::vector<Jid>& devices, const OwnIdentity& own, crypto::ByteView message,
                           crypto::ByteView device_identity) {
  const std::string group_text = group.to_non_ad().to_string();
  // whatsmeow names our sender key by our LID when we have one: members see us as that participant.
  const signal::SenderKeyName name{group_text, signal::Address::from_jid(own.lid.value_or(own.device))};
  const auto skdm = signal::create_sender_key_distribution(store, name);
  const auto skdm_message = encode_sender_key_distribution(group_text, skdm);
  // The skmsg after the SKDM: the SKDM carries the sender key state before this message's iteration.
  const auto skmsg = signal::group_encrypt(store, name, signal::pad(message));
  // Our other devices get the SKDM like everyone else (no DeviceSentMessage in groups).
  Fanout fan = encrypt_fanout(store, devices, own, skdm_message, skdm_message);
  GroupMessage out;
  out.devices = fan.devices.size();
  out.any_pkmsg = fan.any_pkmsg;
  const auto phash = participant_hash(fan.devices);
  out.stanza = message_stanza(id, group, kTextType, std::move(fan), device_identity, phash);
  std::get<NodeList>(out.stanza.content)
      .push_back(Node{"enc", {{"v", std::string("2")}, {"type", std::string("skmsg")}}, skmsg});
  return out;
}

}  // namespace wa::client
