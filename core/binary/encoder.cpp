#include "core/binary/encoder.h"

#include <limits>

namespace wa::binary {
namespace {

bool is_nibble(std::string_view s) {
  if (s.size() > tag::kPackedMax) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  return true;
}

// Uppercase only: lowercase hex stays raw, as Baileys 6 writes it (binary-vectors "deadbeef").
bool is_hex(std::string_view s) {
  if (s.size() > tag::kPackedMax) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) return false;
  return true;
}

std::uint8_t nibble_code(char c) {
  if (c >= '0' && c <= '9') return static_cast<std::uint8_t>(c - '0');
  return c == '-' ? 10 : 11;
}

std::uint8_t hex_code(char c) {
  if (c >= '0' && c <= '9') return static_cast<std::uint8_t>(c - '0');
  return static_cast<std::uint8_t>(10 + (c - 'A'));
}

// An upper bound of the encoded size, so the output grows once instead of doubling its way up
// (a string is at most a 5-byte length and its bytes; a JID at most a tag, 5 fixed bytes and two
// strings). Only a capacity hint: writing still checks, so a wrong bound costs speed, not safety.
std::size_t size_bound(const Node& n, std::size_t depth) {
  auto jid_bound = [](const Jid& j) { return 16 + j.user.size() + j.server.size(); };
  std::size_t total = 3 + 5 + n.tag.size() + 3;
  if (depth > kMaxEncodeDepth) return total;  // the encoder will refuse it anyway
  for (const auto& a : n.attrs) {
    total += 5 + a.key.size();
    if (const auto* s = std::get_if<std::string>(&a.value)) {
      total += 5 + s->size();
    } else {
      total += jid_bound(std::get<Jid>(a.value));
    }
  }
  if (const auto* list = std::get_if<NodeList>(&n.content)) {
    for (const auto& c : *list) total += size_bound(c, depth + 1);
  } else if (const auto* b = std::get_if<Bytes>(&n.content)) {
    total += 5 + b->size();
  } else if (const auto* s = std::get_if<std::string>(&n.content)) {
    total += 5 + s->size();
  } else if (const auto* j = std::get_if<Jid>(&n.content)) {
    total += jid_bound(*j);
  }
  return total;
}

class Encoder {
 public:
  Encoder(Dict dict, Bytes& out) : tokens_(Tokens::get(dict)), out_(out) {}

  void node(const Node& n, std::size_t depth) {
    if (depth > kMaxEncodeDepth) throw EncodeError("node nesting deeper than " + std::to_string(kMaxEncodeDepth));
    if (n.tag.empty()) throw EncodeError("node with an empty tag");
    const bool has_content = !std::holds_alternative<std::monostate>(n.content);
    list_start(1 + 2 * n.attrs.size() + (has_content ? 1 : 0), n.tag);
    string(n.tag);
    for (const auto& a : n.attrs) {
      string(a.key);
      value(a.value, n.tag);
    }
    if (const auto* list = std::get_if<NodeList>(&n.content)) {
      list_start(list->size(), n.tag);
      for (const auto& c : *list) node(c, depth + 1);
    } else if (const auto* b = std::get_if<Bytes>(&n.content)) {
      byte_length(b->size());
      out_.insert(out_.end(), b->begin(), b->end());
    } else if (const auto* s = std::get_if<std::string>(&n.content)) {
      string(*s);
    } else if (const auto* j = std::get_if<Jid>(&n.content)) {
      jid(*j, n.tag);
    }
  }

 private:
  void push(std::uint8_t b) { out_.push_back(b); }

  void list_start(std::size_t n, const std::string& ctx) {
    if (n == 0) {
      push(tag::kListEmpty);
    } else if (n < 256) {
      push(tag::kList8);
      push(static_cast<std::uint8_t>(n));
    } else if (n <= 0xFFFF) {
      push(tag::kList16);
      push(static_cast<std::uint8_t>(n >> 8));
      push(static_cast<std::uint8_t>(n));
    } else {
      throw EncodeError("list of " + std::to_string(n) + " items in <" + ctx + "> exceeds 65535");
    }
  }

  void byte_length(std::size_t n) {
    if (n < 256) {
      push(tag::kBinary8);
      push(static_cast<std::uint8_t>(n));
    } else if (n < (std::size_t{1} << 20)) {
      push(tag::kBinary20);
      push(static_cast<std::uint8_t>((n >> 16) & 0x0F));
      push(static_cast<std::uint8_t>(n >> 8));
      push(static_cast<std::uint8_t>(n));
    } else if (n <= std::numeric_limits<std::uint32_t>::max()) {
      push(tag::kBinary32);
      for (int shift = 24; shift >= 0; shift -= 8) push(static_cast<std::uint8_t>(n >> shift));
    } else {
      throw EncodeError("binary of " + std::to_string(n) + " bytes is too large");
    }
  }

  void packed(std::string_view s, std::uint8_t type) {
    push(type);
    std::uint8_t len = static_cast<std::uint8_t>((s.size() + 1) / 2);
    if (s.size() % 2 != 0) len |= 0x80;
    push(len);
    auto code = [type](char c) { return type == tag::kNibble8 ? nibble_code(c) : hex_code(c); };
    for (std::size_t i = 0; i + 1 < s.size(); i += 2) push(static_cast<std::uint8_t>(code(s[i]) << 4 | code(s[i + 1])));
    if (s.size() % 2 != 0) push(static_cast<std::uint8_t>(code(s.back()) << 4 | 0x0F));
  }

  void string(std::string_view s) {
    if (s.empty()) {
      push(tag::kListEmpty);
      return;
    }
    if (auto t = tokens_.find(s)) {
      if (t->dict >= 0) push(static_cast<std::uint8_t>(tag::kDictionary0 + t->dict));
      push(t->index);
    } else if (is_nibble(s)) {
      packed(s, tag::kNibble8);
    } else if (is_hex(s)) {
      packed(s, tag::kHex8);
    } else {
      byte_length(s.size());
      out_.insert(out_.end(), s.begin(), s.end());
    }
  }

  void value(const Value& v, const std::string& ctx) {
    if (const auto* s = std::get_if<std::string>(&v)) {
      string(*s);
    } else {
      jid(std::get<Jid>(v), ctx);
    }
  }

  // Error messages name the server and the stanza, never the user part (phone numbers).
  void jid(const Jid& j, const std::string& ctx) {
    if (j.server.empty()) throw EncodeError("JID with an empty server in <" + ctx + ">");
    const bool user_srv = j.server == server::kUser;
    const bool lid = j.server == server::kLid;
    const bool hosted = j.server == server::kHosted;
    const bool hosted_lid = j.server == server::kHostedLid;
    if (j.agent != 0 && !user_srv)
      throw EncodeError("JID on " + j.server + " in <" + ctx + ">: an agent is only valid on s.whatsapp.net");
    if (((user_srv || lid) && (j.device || j.agent != 0)) || hosted || hosted_lid) {
      const unsigned dev = j.device.value_or(0);
      if (dev > 255)
        throw EncodeError("JID on " + j.server + " in <" + ctx + ">: device " + std::to_string(dev) +
                          " does not fit AD_JID's one byte");
      std::uint8_t domain = j.agent;
      if (lid) domain = 1;
      if (hosted) domain = 128;
      if (hosted_lid) domain = 129;
      push(tag::kAdJid);
      push(domain);
      push(static_cast<std::uint8_t>(dev));
      string(j.user);
      return;
    }
    // msgr and interop JIDs put a 16-bit device (interop also its integrator) between user and server.
    const bool interop = j.server == server::kInterop;
    if (j.device && (interop || j.server == server::kMessenger)) {
      push(interop ? tag::kInteropJid : tag::kFbJid);
      string(j.user);
      push16(*j.device);
      if (interop) push16(j.integrator);
      string(j.server);
      return;
    }
    if (j.device)
      throw EncodeError("JID on " + j.server + " in <" + ctx + ">: a device is only valid on s.whatsapp.net, lid, "
                        "hosted, hosted.lid, msgr and interop");
    push(tag::kJidPair);
    string(j.user);  // "" is byte 0, the empty user
    string(j.server);
  }

  void push16(std::uint16_t v) {
    push(static_cast<std::uint8_t>(v >> 8));
    push(static_cast<std::uint8_t>(v));
  }

  const Tokens& tokens_;
  Bytes& out_;
};

}  // namespace

void encode_node_to(const Node& node, Dict dict, Bytes& out) {
  out.reserve(out.size() + size_bound(node, 1));
  Encoder(dict, out).node(node, 1);
}

Bytes encode(const Node& node, Dict dict) {
  Bytes out;
  out.reserve(1 + size_bound(node, 1));
  out.push_back(0x00);
  Encoder(dict, out).node(node, 1);
  return out;
}

}  // namespace wa::binary
