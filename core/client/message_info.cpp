#include "core/client/message_info.h"

#include <charconv>

namespace wa::client {

namespace {

using binary::Jid;
using binary::Node;

[[noreturn]] void bad(const std::string& what) {
  throw MalformedMessage("message stanza: " + what);
}

std::optional<Jid> opt_jid(const Node& n, std::string_view key) {
  const binary::Value* v = n.attr(key);
  if (!v) return std::nullopt;
  std::optional<Jid> j;
  if (const Jid* direct = std::get_if<Jid>(v)) {
    j = *direct;
  } else {
    j = Jid::parse(std::get<std::string>(*v));
  }
  if (!j || j->user.empty()) bad("attribute " + std::string(key) + " is not a user JID");
  return j;
}

Jid req_jid(const Node& n, std::string_view key) {
  auto j = opt_jid(n, key);
  if (!j) bad("missing attribute " + std::string(key));
  return *j;
}

std::string text_attr(const Node& n, std::string_view key) {
  return n.attr_text(key).value_or("");
}

template <class T>
std::optional<T> parse_number(std::string_view s) {
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

bool same_user(const Jid& a, const std::optional<Jid>& b) {
  return b && a.user == b->user && a.server == b->server;
}

EncType enc_type(std::string_view t) {
  if (t == "pkmsg") return EncType::pkmsg;
  if (t == "msg") return EncType::msg;
  if (t == "skmsg") return EncType::skmsg;
  if (t == "msmsg") return EncType::msmsg;
  return EncType::unknown;
}

EncPayload parse_enc(const Node& enc, const MessageInfoLimits& limits) {
  EncPayload e;
  auto v = enc.attr_text("v");
  if (!v) bad("<enc> without v");
  if (*v == "2") {
    e.version = 2;
  } else if (*v == "3") {
    e.version = 3;
  } else {
    bad("<enc> has unsupported version");
  }
  auto t = enc.attr_text("type");
  if (!t || t->empty()) bad("<enc> without type");
  e.type_text = *t;
  e.type = enc_type(*t);
  const binary::Bytes* b = enc.bytes();
  if (!b || b->empty()) bad("<enc> without ciphertext bytes");
  if (b->size() > limits.max_ciphertext) bad("<enc> ciphertext over the size limit");
  e.ciphertext = *b;
  if (auto c = enc.attr_text("count")) {
    auto n = parse_number<int>(*c);
    if (!n || *n < 0) bad("<enc> count is not a number");
    e.count = *n;
  }
  e.mediatype = text_attr(enc, "mediatype");
  e.decrypt_fail_hide = enc.attr_text("decrypt-fail") == "hide";
  return e;
}

// The author's alternate identity: PN attribute when the author is a LID, else the LID attribute.
std::optional<Jid> alt_of(const Node& n, const Jid& who, std::string_view pn_key, std::string_view lid_key) {
  return who.is_lid() ? opt_jid(n, pn_key) : opt_jid(n, lid_key);
}

}  // namespace

const char* to_string(AddressingMode m) {
  switch (m) {
    case AddressingMode::pn: return "pn";
    case AddressingMode::lid: return "lid";
    case AddressingMode::unspecified: return "";
  }
  return "";
}

const char* to_string(EncType t) {
  switch (t) {
    case EncType::pkmsg: return "pkmsg";
    case EncType::msg: return "msg";
    case EncType::skmsg: return "skmsg";
    case EncType::msmsg: return "msmsg";
    case EncType::unknown: return "unknown";
  }
  return "unknown";
}

MessageInfo parse_message_info(const Node& node, const OwnJids& own, const MessageInfoLimits& limits) {
  if (node.tag != "message") bad("not a <message>");
  MessageInfo info;
  auto id = node.attr_text("id");
  if (!id || id->empty()) bad("missing attribute id");
  if (id->size() > limits.max_id) bad("id is too long");
  info.id = *id;

  info.from = req_jid(node, "from");
  auto t = node.attr_text("t");
  if (!t) bad("missing attribute t");
  auto ts = parse_number<std::int64_t>(*t);
  if (!ts || *ts < 0) bad("attribute t is not a unix time");
  info.timestamp = *ts;
  info.type = text_attr(node, "type");
  info.category = text_attr(node, "category");
  info.notify = text_attr(node, "notify");
  info.edit = text_attr(node, "edit");
  info.offline = node.attr("offline") != nullptr;
  auto mode = text_attr(node, "addressing_mode");
  if (mode == "lid") {
    info.addressing_mode = AddressingMode::lid;
  } else if (mode == "pn") {
    info.addressing_mode = AddressingMode::pn;
  } else if (!mode.empty()) {
    bad("unknown addressing_mode");
  }
  info.recipient = opt_jid(node, "recipient");

  if (info.from.is_group() || info.from.is_broadcast()) {
    info.is_group = true;
    info.chat = info.from;
    info.sender = req_jid(node, "participant");
    info.sender_alt = alt_of(node, info.sender, "participant_pn", "participant_lid");
    info.is_from_me =
        same_user(info.sender.to_non_ad(), own.pn) || same_user(info.sender.to_non_ad(), own.lid);
  } else if (same_user(info.from.to_non_ad(), own.pn) || same_user(info.from.to_non_ad(), own.lid)) {
    // A copy of what another of our devices sent: the chat is the recipient.
    info.is_from_me = true;
    info.sender = info.from;
    info.chat = info.recipient ? info.recipient->to_non_ad() : info.from.to_non_ad();
    info.sender_alt = alt_of(node, info.sender, "sender_pn", "sender_lid");
    info.recipient_alt = alt_of(node, info.chat, "peer_recipient_pn", "peer_recipient_lid");
  } else {
    info.sender = info.from;
    info.chat = info.from.to_non_ad();
    info.sender_alt = alt_of(node, info.sender, "sender_pn", "sender_lid");
  }

  for (const auto& child : node.children()) {
    if (child.tag == "enc") {
      if (info.encs.size() >= limits.max_encs) bad("too many <enc> children");
      info.encs.push_back(parse_enc(child, limits));
    } else if (child.tag == "unavailable") {
      info.unavailable = true;
    }
  }
  return info;
}

}  // namespace wa::client
