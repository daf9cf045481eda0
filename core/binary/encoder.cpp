#include "core/binary/encoder.h"

#include <limits>

namespace wa::binary {
namespace {

// Per character: bit 0 = valid in NIBBLE_8 (0-9 - .), bit 1 = valid in HEX_8 (0-9 A-F; uppercase
// only: lowercase hex stays raw, as Baileys 6 writes it, binary-vectors "deadbeef"); the code
// (nibble value) of the character in each.
struct PackClass {
  std::uint8_t ok[256] = {};
  std::uint8_t nibble[256] = {};
  std::uint8_t hex[256] = {};
  constexpr PackClass() {
    for (int c = '0'; c <= '9'; ++c) {
      ok[c] = 3;
      nibble[c] = hex[c] = static_cast<std::uint8_t>(c - '0');
    }
    constexpr int kDash = '-', kDot = '.';  // int: a char subscript is a warning (clang)
    ok[kDash] = 1;
    nibble[kDash] = 10;
    ok[kDot] = 1;
    nibble[kDot] = 11;
    for (int c = 'A'; c <= 'F'; ++c) {
      ok[c] = 2;
      hex[c] = static_cast<std::uint8_t>(10 + c - 'A');
    }
  }
};
constexpr PackClass kPack;

// Which packed form fits `s`: bit 0 nibble, bit 1 hex, 0 neither.
unsigned pack_kinds(std::string_view s) {
  if (s.size() > tag::kPackedMax) return 0;
  unsigned m = 3;
  for (const char c : s) {
    m &= kPack.ok[static_cast<unsigned char>(c)];
    if (m == 0) break;
  }
  return m;
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
    const std::uint8_t* code = type == tag::kNibble8 ? kPack.nibble : kPack.hex;
    auto c = [code](char ch) { return code[static_cast<unsigned char>(ch)]; };
    const std::size_t n = (s.size() + 1) / 2;
    const std::size_t at = out_.size();
    out_.resize(at + 2 + n);
    std::uint8_t* o = out_.data() + at;
    o[0] = type;
    o[1] = static_cast<std::uint8_t>(n | (s.size() % 2 != 0 ? 0x80 : 0));
    o += 2;
    for (std::size_t i = 0; i + 1 < s.size(); i += 2) *o++ = static_cast<std::uint8_t>(c(s[i]) << 4 | c(s[i + 1]));
    if (s.size() % 2 != 0) *o = static_cast<std::uint8_t>(c(s.back()) << 4 | 0x0F);
  }

  void string(std::string_view s) {
    if (s.empty()) {
      push(tag::kListEmpty);
      return;
    }
    if (auto t = tokens_.find(s)) {
      if (t->dict >= 0) push(static_cast<std::uint8_t>(tag::kDictionary0 + t->dict));
      push(t->index);
    } else if (const unsigned kinds = pack_kinds(s); kinds & 1) {
      packed(s, tag::kNibble8);
    } else if (kinds & 2) {
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
