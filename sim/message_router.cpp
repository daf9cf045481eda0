#include "sim/message_router.h"

#include <algorithm>
#include <sstream>

#include "common/log.h"
#include "common/mask.h"
#include "core/binary/decoder.h"
#include "core/binary/encoder.h"
#include "core/client/stanzas.h"
#include "sim/addressing.h"
#include "sim/stanzas.h"
#include "sim/tsv_file.h"
#include "sim/wa_session.h"

namespace wa::sim {
namespace {

using wa::binary::Attr;
using wa::binary::Jid;
using wa::binary::Node;
using wa::binary::NodeList;
using wa::client::server_jid;
using DeviceKey = MessageRouter::DeviceKey;

constexpr std::size_t kMaxStoredStanza = 16u << 20;
constexpr std::size_t kMaxQueueTotal = 200000;

std::string text_attr(const Node& n, std::string_view key) {
  return n.attr_text(key).value_or("");
}

const NodeList& kids(const Node& n) {
  static const NodeList none;
  auto k = std::get_if<NodeList>(&n.content);
  return k ? *k : none;
}

Jid device_jid(DeviceKey d) {
  return Jid{
      std::to_string(d.first), std::string(wa::binary::server::kUser), 0,
      d.second == 0 ? std::nullopt : std::optional<std::uint16_t>(static_cast<std::uint16_t>(d.second)), 0};
}

Jid user_jid(std::uint64_t user) {
  return Jid{std::to_string(user), std::string(wa::binary::server::kUser), 0, std::nullopt, 0};
}

// A PN or LID JID (device optional) as a device key; nullopt for anything else.
std::optional<DeviceKey> key_of(const std::string& text) {
  return device_of(text);
}

// The sender a routed stanza (PN form) or an ack of it names (the participant in groups; an ack's
// `to` is the stanza's `from`, in whichever addressing the client got it); for receipts the type
// too. Empty when it names none: then an ack settles every entry of that class and id.
std::string origin_of(const Node& n, const std::string& cls, const char* from_attr) {
  const auto participant = text_attr(n, "participant");
  const auto sender = key_of(participant.empty() ? text_attr(n, from_attr) : participant);
  if (!sender) return {};
  const std::string type = text_attr(n, "type");
  return queue_origin(*sender, cls == "receipt" ? &type : nullptr);
}

Node ack_for(const Node& in, const std::string& cls, const std::string& from, const char* error = nullptr) {
  Node ack{"ack", {{"class", cls}, {"id", text_attr(in, "id")}, {"from", from}}, {}};
  if (cls != "message")
    if (auto t = in.attr("type")) ack.attrs.push_back(Attr{"type", *t});
  ack.attrs.push_back(Attr{"t", unix_seconds()});
  if (error) ack.attrs.push_back(Attr{"error", std::string(error)});
  return ack;
}

bool valid_id(const std::string& id) {
  return !id.empty() && id.size() <= MessageRouter::kMaxIdLength &&
         id.find_first_of("\t\n\r") == std::string::npos;
}

}  // namespace

MessageRouter::MessageRouter(std::filesystem::path state_dir, DeviceRegistry& devices, SessionHub& hub,
                             PreKeyServer& keys, GroupRegistry& groups)
    : queue_(state_dir, QueueLimits{kMaxPendingPerDevice, kMaxQueueTotal, kMaxStoredStanza, kMaxIdLength}),
      sessions_file_(state_dir / "sessions.tsv"),
      devices_(devices),
      hub_(hub),
      keys_(keys),
      groups_(groups) {
  read_tsv(sessions_file_, 2, [&](const std::vector<std::string>& f, const TsvError& bad) {
    auto a = key_of(f[0]);
    auto b = key_of(f[1]);
    if (!a || !b) throw bad("bad device jid");
    if (sessions_.size() >= kMaxQueueTotal) throw bad("too many sessions");
    sessions_.insert(std::minmax(*a, *b));
  });
}

std::vector<std::uint32_t> MessageRouter::devices_of(std::uint64_t user) const {
  std::vector<std::uint32_t> out;
  if (keys_.has({user, 0})) out.push_back(0);
  for (const auto& r : devices_.all())
    if (r.user == user) out.push_back(r.device);
  return out;
}

std::size_t MessageRouter::pending(DeviceKey d) const {
  return queue_.size(d);
}

bool MessageRouter::handle(WaSession& session, DeviceKey from, const Node& n) {
  if (n.tag == "iq") return on_iq(session, from, n);
  if (n.tag == "message") {
    on_message(session, from, n);
    return true;
  }
  if (n.tag == "receipt") {
    on_receipt(session, from, n);
    return true;
  }
  if (n.tag == "ack") {
    on_ack(from, n);
    return true;
  }
  return false;
}

bool MessageRouter::on_iq(WaSession& session, DeviceKey from, const Node& iq) {
  const auto xmlns = text_attr(iq, "xmlns");
  const auto type = text_attr(iq, "type");
  if (!iq.attr("id") || (type != "get" && type != "set")) return false;
  if (xmlns == "encrypt" && type == "set") {
    try {
      keys_.upload(from, iq);
    } catch (const UploadError& e) {
      wa::log::warn("wasim_prekey_upload_refused").kv("reason", e.what());
      session.deliver(iq_error(iq, 400, "bad-request"));
      return true;
    }
    session.deliver(iq_reply(iq, "result"));
    return true;
  }
  if (xmlns == "encrypt" && type == "get" && iq.child("count")) {
    session.deliver(
        iq_reply(iq, "result", {Node{"count", {{"value", std::to_string(keys_.count(from))}}, {}}}));
    return true;
  }
  if (xmlns == "encrypt" && type == "get" && iq.child("key")) {
    session.deliver(fetch_bundles(iq));
    return true;
  }
  if (xmlns == "usync" && type == "get") {
    session.deliver(usync(iq));
    return true;
  }
  if (xmlns == "w:g2" && type == "get") {
    session.deliver(group_info(iq, from, session.addressing()));
    return true;
  }
  return false;
}

Node MessageRouter::fetch_bundles(const Node& iq) {
  const Node& key = *iq.child("key");
  if (kids(key).size() > kMaxFetchUsers) return iq_error(iq, 400, "bad-request");
  NodeList users;
  for (const auto& u : kids(key)) {
    if (u.tag != "user") continue;
    const auto jid_text = text_attr(u, "jid");
    auto d = key_of(jid_text);
    std::optional<Node> bundle;
    if (d) bundle = keys_.take_bundle(*d, *Jid::parse(jid_text));
    if (bundle) {
      users.push_back(std::move(*bundle));
    } else {
      Node err{"user",
               {{"jid", jid_text}},
               NodeList{Node{
                   "error", {{"code", std::string("404")}, {"text", std::string("item-not-found")}}, {}}}};
      users.push_back(std::move(err));
    }
  }
  return iq_reply(iq, "result", {Node{"list", {}, std::move(users)}});
}

Node MessageRouter::usync(const Node& iq) const {
  const Node* us = iq.child("usync");
  const Node* list = us ? us->child("list") : nullptr;
  const Node* query = us ? us->child("query") : nullptr;
  if (!list || !query || kids(*list).size() > kMaxFetchUsers) return iq_error(iq, 400, "bad-request");
  const bool want_devices = query->child("devices") != nullptr;
  const bool want_lid = query->child("lid") != nullptr;
  NodeList users;
  for (const auto& u : kids(*list)) {
    if (u.tag != "user") continue;
    const auto jid_text = text_attr(u, "jid");
    auto d = key_of(jid_text);
    NodeList parts;
    if (want_devices) {
      NodeList devs;
      if (d)
        for (auto id : devices_of(d->first)) {
          Node dev{"device", {{"id", std::to_string(id)}}, {}};
          // Baileys drops companions without a key index; ours is the device id (phone_side).
          if (id != 0) dev.attrs.push_back(Attr{"key-index", std::to_string(id)});
          devs.push_back(std::move(dev));
        }
      parts.push_back(Node{"devices",
                           {},
                           NodeList{Node{"device-list", {}, std::move(devs)},
                                    Node{"key-index-list", {{"ts", unix_seconds()}}, wa::crypto::Bytes{}}}});
    }
    if (want_lid && d) parts.push_back(Node{"lid", {{"val", lid_jid(d->first)}}, {}});
    Node out{"user", {{"jid", jid_text}}, {}};
    if (!parts.empty()) out.content = std::move(parts);
    users.push_back(std::move(out));
  }
  Node reply_usync{"usync", us->attrs, NodeList{Node{"list", {}, std::move(users)}}};
  return iq_reply(iq, "result", {std::move(reply_usync)});
}

Node MessageRouter::group_info(const Node& iq, DeviceKey from, Addressing mode) const {
  auto to = Jid::parse(text_attr(iq, "to"));
  if (!to || !to->is_group()) return iq_error(iq, 400, "bad-request");
  auto g = groups_.find(to->user);
  if (!g) return iq_error(iq, 404, "item-not-found");
  if (std::find(g->members.begin(), g->members.end(), from.first) == g->members.end())
    return iq_error(iq, 403, "forbidden");
  NodeList parts;
  for (auto m : g->members) {
    // LID groups (as WhatsApp's are now) list members by LID with their number alongside.
    Node p{"participant", {{"jid", mode == Addressing::lid ? lid_jid(m) : user_jid(m)}}, {}};
    if (mode == Addressing::lid) p.attrs.push_back(Attr{"phone_number", user_jid(m)});
    if (m == g->creator) p.attrs.push_back(Attr{"type", std::string("superadmin")});
    parts.push_back(std::move(p));
  }
  Node group{"group",
             {{"id", g->id},
              {"creator", mode == Addressing::lid ? lid_jid(g->creator) : user_jid(g->creator)},
              {"creation", std::to_string(g->created_s)},
              {"subject", g->subject},
              {"s_t", std::to_string(g->created_s)},
              {"s_o", user_jid(g->creator)},
              {"addressing_mode", std::string(to_string(mode))}},
             std::move(parts)};
  Node r = iq_reply(iq, "result", {std::move(group)});
  for (auto& a : r.attrs)
    if (a.key == "from") a.value = *to;
  return r;
}

void MessageRouter::on_message(WaSession& session, DeviceKey from, const Node& msg) {
  if (auto ack = route(from, msg)) session.deliver(*ack);
}

std::optional<Node> MessageRouter::route(DeviceKey from, const Node& msg) {
  const std::string id = text_attr(msg, "id");
  if (!valid_id(id)) return std::nullopt;  // nothing to ack
  const std::string to_text = text_attr(msg, "to");
  auto refuse = [&](const char* code, const std::string& why) {
    wa::log::info("wasim_message_refused").kv("id", id).kv("code", code).kv("reason", why);
    return ack_for(msg, "message", to_text, code);
  };
  auto to = Jid::parse(to_text);
  // A resend after a retry receipt names the one device (e2e reference §4.6): top-level pkmsg/msg.
  const bool to_account = to && (to->is_user() || to->is_lid());
  const std::optional<DeviceKey> to_device = to_account && to->is_device() ? key_of(to_text) : std::nullopt;
  if (!to || (to->is_device() && !to_device) || (!to_account && !to->is_group()))
    return refuse("400", "unsupported destination");
  std::optional<GroupRecord> group;
  std::optional<std::uint64_t> dm_user;
  if (to->is_group()) {
    group = groups_.find(to->user);
    if (!group) return refuse("404", "unknown group");
    if (std::find(group->members.begin(), group->members.end(), from.first) == group->members.end())
      return refuse("403", "sender is not a participant");
  } else {
    auto d = key_of(to_text);
    if (!d) return refuse("400", "bad destination user");
    dm_user = d->first;
  }
  auto member = [&](std::uint64_t user) {
    if (group) return std::find(group->members.begin(), group->members.end(), user) != group->members.end();
    return user == *dm_user || user == from.first;
  };

  // Per-device payloads from <participants>.
  std::map<DeviceKey, NodeList> pairwise;
  if (const Node* parts = msg.child("participants")) {
    if (kids(*parts).size() > kMaxTargets) return refuse("400", "too many participants");
    for (const auto& t : kids(*parts)) {
      if (t.tag != "to") continue;
      auto d = key_of(text_attr(t, "jid"));
      if (!d || !member(d->first)) return refuse("400", "a <to> names a device outside the chat");
      if (*d == from) continue;
      NodeList encs;
      for (const auto& e : kids(t))
        if (e.tag == "enc") encs.push_back(e);
      if (encs.empty() || encs.size() > 4) return refuse("400", "a <to> needs 1-4 <enc>");
      pairwise[*d] = std::move(encs);
    }
  }
  NodeList shared;  // top-level encs (skmsg) go to every member device
  for (const auto& e : kids(msg))
    if (e.tag == "enc") shared.push_back(e);
  // A group message resent after a retry receipt names the one member device it is for
  // (`to=group participant=device`; Baileys puts the pairwise enc in <participants> or at the top).
  std::optional<DeviceKey> resend_to;
  if (group && msg.attr("participant")) {
    resend_to = key_of(text_attr(msg, "participant"));
    if (!resend_to || !member(resend_to->first) || *resend_to == from)
      return refuse("400", "a group resend names a participant outside the group");
    for (auto it = pairwise.begin(); it != pairwise.end();)
      it = it->first == *resend_to ? std::next(it) : pairwise.erase(it);
    NodeList skmsgs;
    for (auto& e : shared) {
      if (text_attr(e, "type") == "skmsg")
        skmsgs.push_back(std::move(e));
      else
        pairwise[*resend_to].push_back(std::move(e));
    }
    shared = std::move(skmsgs);
    if (pairwise.empty() && shared.empty()) return refuse("400", "a group resend carries no <enc>");
  }
  if (to_device) {
    if (msg.child("participants") || shared.empty() || shared.size() > 4 || *to_device == from)
      return refuse("400", "a message to one device carries 1-4 top-level <enc> and no <participants>");
    for (const auto& e : shared)
      if (text_attr(e, "type") != "pkmsg" && text_attr(e, "type") != "msg")
        return refuse("400", "a message to one device carries pkmsg/msg");
    pairwise[*to_device] = std::move(shared);
    shared.clear();
  }
  if (!shared.empty() && !group) return refuse("400", "a top-level <enc> outside a group");
  if (shared.size() > 4) return refuse("400", "too many top-level <enc>");
  for (const auto& e : shared)
    if (text_attr(e, "type") != "skmsg") return refuse("400", "a top-level <enc> must be skmsg");

  // A device that never got a pkmsg from this device cannot decrypt a msg.
  std::vector<DeviceKey> new_sessions;
  for (const auto& [d, encs] : pairwise) {
    bool pk = false, plain = false;
    for (const auto& e : encs) {
      const auto t = text_attr(e, "type");
      pk = pk || t == "pkmsg";
      plain = plain || t == "msg";
    }
    if (pk)
      new_sessions.push_back(d);
    else if (plain && !sessions_.count(std::minmax(from, d)))
      return refuse(kNoSessionError, "msg to a device that has no session with the sender (needs pkmsg)");
  }

  std::set<DeviceKey> targets;
  for (const auto& [d, _] : pairwise) targets.insert(d);
  if (resend_to)
    targets.insert(*resend_to);  // the skmsg too goes to that device only
  else if (!shared.empty())
    for (auto m : group->members)
      for (auto dev : devices_of(m))
        if (DeviceKey{m, dev} != from) targets.insert({m, dev});
  if (targets.empty() && pairwise.empty() && shared.empty()) return refuse("400", "nothing to deliver");

  const Node* identity = msg.child("device-identity");
  std::size_t delivered = 0;
  for (const auto& d : targets) {
    Node out{"message", {{"id", id}}, {}};
    if (group) {
      out.attrs.push_back(Attr{"from", *to});
      out.attrs.push_back(Attr{"participant", device_jid(from)});
    } else {
      out.attrs.push_back(Attr{"from", device_jid(from)});
      // Own other device: the chat it was sent in (PN form here; LID connections get it as LID).
      if (d.first == from.first)
        out.attrs.push_back(Attr{"recipient", user_jid(to_device ? to_device->first : *dm_user)});
    }
    out.attrs.push_back(Attr{"t", unix_seconds()});
    out.attrs.push_back(Attr{"type", msg.attr_text("type").value_or("text")});
    if (auto notify = msg.attr_text("notify")) out.attrs.push_back(Attr{"notify", *notify});
    NodeList children;
    bool pk = false;
    if (auto it = pairwise.find(d); it != pairwise.end())
      for (const auto& e : it->second) {
        pk = pk || text_attr(e, "type") == "pkmsg";
        children.push_back(e);
      }
    for (const auto& e : shared) children.push_back(e);
    if (pk && identity) children.push_back(*identity);
    out.content = std::move(children);
    if (post(d, "message", id, out)) ++delivered;
  }
  // A session serves both directions: the recipient answers with msg on it.
  for (const auto& d : new_sessions) sessions_.insert(std::minmax(from, d));
  if (!new_sessions.empty()) save_sessions();
  wa::log::info("wasim_message_routed").kv("id", id).kv("devices", delivered).kv("group", group.has_value());
  return ack_for(msg, "message", to_text);
}

std::vector<Node> MessageRouter::take_pending(DeviceKey d) {
  std::vector<Node> out;
  for (const auto& p : queue_.take(d))
    out.push_back(wa::binary::decode_frame(p.stanza, wa::binary::Dict::v3));
  return out;
}

void MessageRouter::on_receipt(WaSession& session, DeviceKey from, const Node& r) {
  if (!valid_id(text_attr(r, "id"))) return;
  relay_receipt(from, r);
  session.deliver(
      ack_for(r, "receipt", text_attr(r, "to").empty() ? server_jid().to_string() : text_attr(r, "to")));
}

bool MessageRouter::relay_receipt(DeviceKey from, const Node& r) {
  const std::string id = text_attr(r, "id");
  if (!valid_id(id)) return false;
  // A receipt answers a message this device got: it no longer needs redelivery.
  (void)queue_.drop(from, "message", id);
  auto to = Jid::parse(text_attr(r, "to"));
  std::optional<std::uint64_t> author;
  if (to && to->is_group()) {
    if (auto p = key_of(text_attr(r, "participant"))) author = p->first;
  } else if (auto d = key_of(text_attr(r, "to"))) {
    author = d->first;
  }
  if (!author) return false;
  // PN form like every routed stanza; each connection gets it in its addressing mode.
  Node out{"receipt", {{"id", id}}, {}};
  if (to && to->is_group()) {
    out.attrs.push_back(Attr{"from", *to});
    out.attrs.push_back(Attr{"participant", device_jid(from)});
  } else {
    out.attrs.push_back(Attr{"from", device_jid(from)});
  }
  if (auto t = r.attr_text("type")) out.attrs.push_back(Attr{"type", *t});
  if (auto rc = key_of(text_attr(r, "recipient")))
    out.attrs.push_back(Attr{"recipient", user_jid(rc->first)});
  out.attrs.push_back(Attr{"t", unix_seconds()});
  NodeList children;
  for (const auto& c : kids(r))
    if (c.tag == "list" && kids(c).size() <= 1024) children.push_back(c);
  if (text_attr(r, "type") == "retry")  // the retry request and its fresh keys go to the sender
    for (const auto& c : kids(r))
      if (c.tag != "list") children.push_back(c);
  if (!children.empty()) out.content = std::move(children);
  for (auto dev : devices_of(*author))
    if (DeviceKey{*author, dev} != from) post({*author, dev}, "receipt", id, out);
  return true;
}

void MessageRouter::on_ack(DeviceKey from, const Node& ack) {
  const auto cls = text_attr(ack, "class");
  const auto id = text_attr(ack, "id");
  // Only the stanza acked: the contact's delivery receipt and the own phone's receipt share an id,
  // and a client killed between the two must get the second one again.
  if (cls == "message" || cls == "receipt") (void)queue_.drop(from, cls, id, origin_of(ack, cls, "to"));
}

bool MessageRouter::post(DeviceKey to, const std::string& cls, const std::string& id, const Node& stanza) {
  if (!queue_.push(to, PendingQueue::Item{cls, id, wa::binary::encode(stanza, wa::binary::Dict::v3),
                                          origin_of(stanza, cls, "from")})) {
    wa::log::warn("wasim_queue_full").kv("device", wa::mask_jid(device_jid(to).to_string())).kv("id", id);
    return false;
  }
  if (WaSession* live = hub_.live(to)) live->deliver(stanza);
  if (to.second == 0 && on_primary_) on_primary_(to.first);
  return true;
}

void MessageRouter::on_login(WaSession& session, DeviceKey d) {
  std::size_t n = 0;
  if (const auto* items = queue_.items(d)) {
    for (const auto& p : *items) {
      Node stanza = wa::binary::decode_frame(p.stanza, wa::binary::Dict::v3);
      if (stanza.tag == "message") stanza.attrs.push_back(Attr{"offline", std::string("1")});
      session.deliver(stanza);
      ++n;
    }
  }
  session.deliver(
      Node{"ib", {{"from", server_jid()}}, NodeList{Node{"offline", {{"count", std::to_string(n)}}, {}}}});
}

void MessageRouter::forget(DeviceKey d) {
  keys_.forget(d);
  queue_.clear(d);
  const auto before = sessions_.size();
  for (auto it = sessions_.begin(); it != sessions_.end();)
    it = (it->first == d || it->second == d) ? sessions_.erase(it) : std::next(it);
  if (sessions_.size() != before) save_sessions();
}

void MessageRouter::save_sessions() const {
  std::ostringstream os;
  os << "# device\tdevice (a pkmsg went between them: they share a session)\n";
  for (const auto& [a, b] : sessions_)
    os << device_jid(a).to_string() << '\t' << device_jid(b).to_string() << '\n';
  write_private_file(sessions_file_, os.str());
}

}  // namespace wa::sim
