#include "sim/phone_messenger.h"

#include <algorithm>
#include <stdexcept>

#include "common/log.h"
#include "core/client/message_content.h"
#include "core/client/stanzas.h"
#include "core/crypto/random.h"
#include "core/crypto/signal_context.h"
#include "core/signal/group_cipher.h"
#include "core/signal/padding.h"
#include "core/signal/prekey_bundle.h"
#include "core/signal/session_cipher.h"
#include "sim/addressing.h"
#include "sim/phone_signal_store.h"
#include "sim/stanzas.h"

namespace wa::sim {
namespace {

using wa::crypto::Bytes;

std::string message_id() {
  auto r = wa::crypto::random_bytes(9);
  std::string hex = wa::crypto::to_hex(r);
  std::transform(hex.begin(), hex.end(), hex.begin(),
                 [](char c) { return static_cast<char>(std::toupper(c)); });
  return "3EB0" + hex;
}

Node enc_node(const wa::signal::Ciphertext& ct) {
  return Node{
      "enc", {{"v", std::string("2")}, {"type", std::string(wa::signal::to_string(ct.type))}}, ct.data};
}

}  // namespace

struct PhoneMessenger::Phone {
  Phone(std::filesystem::path file, const wa::crypto::KeyPair& identity)
      : store(std::move(file), identity), proto(ctx, store.stores()) {}
  wa::crypto::SignalContext ctx;
  PhoneSignalStore store;
  wa::signal::ProtocolStore proto;
  std::vector<PhoneReceived> inbox;
  std::vector<PhoneReceipt> receipts;
};

PhoneMessenger::PhoneMessenger(std::filesystem::path state_dir, PreKeyServer& keys, MessageRouter& router,
                               GroupRegistry& groups)
    : dir_(std::move(state_dir) / "phone-signal"), keys_(keys), router_(router), groups_(groups) {}

PhoneMessenger::~PhoneMessenger() = default;

PhoneMessenger::Phone& PhoneMessenger::phone(const PhoneRecord& rec) {
  auto& slot = phones_[rec.user];
  if (slot) return *slot;
  // The primary's Signal identity is the account key (it signs the companions' identities).
  slot = std::make_unique<Phone>(dir_ / (std::to_string(rec.user) + ".tsv"), rec.account);
  if (!keys_.has({rec.user, 0})) {
    wa::client::DeviceKeys dk;
    dk.identity_key = rec.account;
    dk.registration_id = slot->store.local_identity().registration_id;
    dk.signed_pre_key = {slot->store.signed_pre_key().id, slot->store.signed_pre_key().pair,
                         slot->store.signed_pre_key().signature};
    std::vector<wa::client::PreKey> pks;
    for (const auto& [id, pair] : slot->store.pre_keys()) pks.push_back({id, pair, false});
    keys_.upload({rec.user, 0}, wa::client::pre_key_upload("phone", dk, pks));
  }
  return *slot;
}

PhoneSent PhoneMessenger::send_text(const PhoneRecord& rec, const Jid& to, const std::string& text) {
  Phone& p = phone(rec);
  const auto padded = wa::signal::pad(wa::client::encode_text_message(text));
  std::vector<std::pair<std::uint64_t, std::uint32_t>> targets;
  std::optional<GroupRecord> group;
  if (to.is_group()) {
    group = groups_.find(to.user);
    if (!group || std::find(group->members.begin(), group->members.end(), rec.user) == group->members.end())
      throw std::invalid_argument("the phone is not in that group");
    for (auto m : group->members)
      for (auto d : router_.devices_of(m))
        if (!(m == rec.user && d == 0)) targets.push_back({m, d});
  } else if (to.is_user() && !to.device) {
    std::uint64_t user = 0;
    try {
      user = std::stoull(to.user);
    } catch (const std::logic_error&) {
      throw std::invalid_argument("bad user JID");
    }
    if (user == rec.user) throw std::invalid_argument("a phone does not message itself");
    for (auto d : router_.devices_of(user)) targets.push_back({user, d});
    // The phone's own companions get a DeviceSentMessage copy (e2e reference §3.2).
    for (auto d : router_.devices_of(rec.user))
      if (d != 0) targets.push_back({rec.user, d});
  } else {
    throw std::invalid_argument("send to a user JID or a group JID");
  }
  const auto self = wa::signal::Address::from_jid(pn_jid(rec.user));
  Bytes pairwise_plain = padded;
  const Bytes own_copy = group ? Bytes{}
                               : wa::signal::pad(wa::client::encode_device_sent(
                                     to.to_non_ad().to_string(), wa::client::encode_text_message(text)));
  NodeList top;
  if (group) {
    const wa::signal::SenderKeyName name{to.to_string(), self};
    const Bytes skdm = wa::signal::create_sender_key_distribution(p.proto, name);
    pairwise_plain = wa::signal::pad(wa::client::encode_sender_key_distribution(to.to_string(), skdm));
    top.push_back(Node{"enc",
                       {{"v", std::string("2")}, {"type", std::string("skmsg")}},
                       wa::signal::group_encrypt(p.proto, name, padded)});
  }
  NodeList tos;
  std::size_t n_pkmsg = 0, n_msg = 0;
  for (const auto& [u, d] : targets) {
    const Jid jid = pn_jid(u, d);
    const auto addr = wa::signal::Address::from_jid(jid);
    if (!wa::signal::has_session(p.proto, addr)) {
      auto bundle_node = keys_.take_bundle({u, d}, jid);
      if (!bundle_node) continue;  // a device without keys cannot be written to
      wa::signal::process_bundle(p.proto, addr, wa::signal::parse_bundle(*bundle_node));
    }
    const Bytes& plain = !group && u == rec.user ? own_copy : pairwise_plain;
    const auto ct = wa::signal::encrypt(p.proto, addr, plain);
    (ct.type == wa::signal::CiphertextType::pkmsg ? n_pkmsg : n_msg) += 1;
    tos.push_back(Node{"to", {{"jid", jid}}, NodeList{enc_node(ct)}});
  }
  p.store.save();
  PhoneSent out;
  out.id = message_id();
  out.devices = tos.size();
  out.pkmsg = n_pkmsg;
  out.msg = n_msg;
  NodeList children{Node{"participants", {}, std::move(tos)}};
  for (auto& e : top) children.push_back(std::move(e));
  Node msg{"message", {{"id", out.id}, {"to", to}, {"type", std::string("text")}}, std::move(children)};
  auto ack = router_.route({rec.user, 0}, msg);
  if (ack) out.error = ack->attr_text("error").value_or("");
  return out;
}

const std::vector<PhoneReceived>& PhoneMessenger::inbox(const PhoneRecord& rec) {
  receive(rec);
  return phone(rec).inbox;
}

const std::vector<PhoneReceipt>& PhoneMessenger::receipts(const PhoneRecord& rec) {
  receive(rec);
  return phone(rec).receipts;
}

void PhoneMessenger::receive(const PhoneRecord& rec) {
  Phone& p = phone(rec);
  for (const auto& n : router_.take_pending({rec.user, 0})) {
    if (n.tag == "receipt") {
      p.receipts.push_back(PhoneReceipt{
          n.attr_text("id").value_or(""),
          n.attr("participant") ? n.attr_text("participant").value_or("") : n.attr_text("from").value_or(""),
          n.attr_text("type").value_or("delivery")});
      if (p.receipts.size() > kMaxInbox) p.receipts.erase(p.receipts.begin());
      continue;
    }
    if (n.tag != "message") continue;
    PhoneReceived r;
    r.id = n.attr_text("id").value_or("");
    r.offline = n.attr("offline") != nullptr;
    const auto from = n.attr_text("from").value_or("");
    auto from_jid = Jid::parse(from);
    const bool in_group = from_jid && from_jid->is_group();
    r.sender = in_group ? n.attr_text("participant").value_or("") : from;
    auto sender = Jid::parse(r.sender);
    r.chat = in_group ? from : (sender ? sender->to_non_ad().to_string() : "");
    if (auto rc = n.attr_text("recipient")) r.chat = *rc;  // a copy of what our companion sent
    if (!sender) {
      r.error = "no sender";
      p.inbox.push_back(r);
      continue;
    }
    const auto addr = wa::signal::Address::from_jid(*sender);
    try {
      for (const auto& e : n.children()) {
        if (e.tag != "enc" || !e.bytes()) continue;
        const auto type = e.attr_text("type").value_or("");
        r.enc += (r.enc.empty() ? "" : ",") + type;
        Bytes plain;
        if (type == "skmsg") {
          plain = wa::signal::group_decrypt(p.proto, {from, addr}, *e.bytes());
        } else if (type == "pkmsg" || type == "msg") {
          plain = wa::signal::decrypt(
              p.proto, addr,
              type == "pkmsg" ? wa::signal::CiphertextType::pkmsg : wa::signal::CiphertextType::msg,
              *e.bytes());
        } else {
          continue;
        }
        auto content = wa::client::decode_message(wa::signal::unpad(plain));
        if (content.sender_key_distribution && in_group)
          wa::signal::process_sender_key_distribution(p.proto, {from, addr},
                                                      content.sender_key_distribution->distribution);
        if (content.type != "sender_key_distribution" || r.type.empty()) r.type = content.type;
        if (content.text) r.text = content.text;
        if (content.quote) r.reply_to = content.quote->id;
      }
    } catch (const std::exception& e) {
      r.error = e.what();
    }
    if (r.error.empty()) {
      // The delivery receipt an online phone sends (a copy from its own companion: type sender).
      Node receipt{"receipt", {{"id", r.id}}, {}};
      if (in_group) {
        receipt.attrs.push_back({"to", *from_jid});
        receipt.attrs.push_back({"participant", *sender});
      } else {
        receipt.attrs.push_back({"to", *sender});
      }
      if (auto rc = n.attr_text("recipient")) {
        receipt.attrs.push_back({"recipient", *rc});
        receipt.attrs.push_back({"type", std::string("sender")});
      }
      router_.relay_receipt({rec.user, 0}, receipt);
      // A phone shows one message per id and chat, as WhatsApp's apps do: a sender's resend with
      // the same id (after a lost server ack, a failover) is receipted again but not shown twice.
      auto same = std::find_if(p.inbox.begin(), p.inbox.end(), [&](const PhoneReceived& m) {
        return m.error.empty() && m.id == r.id && m.chat == r.chat;
      });
      if (same != p.inbox.end()) {
        ++same->copies;
        continue;
      }
    }
    p.inbox.push_back(std::move(r));
    if (p.inbox.size() > kMaxInbox) p.inbox.erase(p.inbox.begin());
  }
  p.store.save();
}

std::vector<std::string> PhoneMessenger::mark_read(const PhoneRecord& rec,
                                                   const std::vector<std::string>& ids) {
  receive(rec);
  Phone& p = phone(rec);
  std::vector<std::string> done;
  for (const auto& id : ids) {
    auto it = std::find_if(p.inbox.rbegin(), p.inbox.rend(), [&](const PhoneReceived& m) {
      return m.id == id && m.error.empty() && m.type != "sender_key_distribution";
    });
    if (it == p.inbox.rend()) continue;
    auto chat = Jid::parse(it->chat);
    auto sender = Jid::parse(it->sender);
    if (!chat || !sender || sender->user == std::to_string(rec.user)) continue;  // own copies are not "read"
    Node receipt{"receipt", {{"id", id}, {"to", *chat}, {"type", std::string("read")}}, {}};
    if (chat->is_group()) receipt.attrs.push_back({"participant", *sender});
    router_.relay_receipt({rec.user, 0}, receipt);
    it->read = true;
    done.push_back(id);
  }
  return done;
}

}  // namespace wa::sim
