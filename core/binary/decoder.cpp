#include "core/binary/decoder.h"

#include <algorithm>
#include <cstdio>

#include "core/binary/frame.h"

namespace wa::binary {

DecodeError::DecodeError(std::size_t offset, const std::string& what)
    : std::runtime_error("binary node: offset " + std::to_string(offset) + ": " + what), offset_(offset) {}

namespace {

std::string hex_byte(std::uint8_t b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", b);
  return buf;
}

class Decoder {
 public:
  Decoder(std::span<const std::uint8_t> data, Dict dict, const DecodeLimits& limits)
      : data_(data), tokens_(Tokens::get(dict)), limits_(limits) {}

  Node node(std::size_t depth) {
    if (depth > limits_.max_depth)
      fail(pos_, "nodes nested deeper than the limit of " + std::to_string(limits_.max_depth));
    count_item();
    const std::size_t start = pos_;
    const std::size_t size = list_size(byte("a node's list header"), "a node's list header");
    if (size == 0) fail(start, "a node needs a list header of size >= 1, got an empty list");
    Node n;
    const std::size_t tag_at = pos_;
    n.tag = string(byte("the node tag"), "the node tag");
    if (n.tag.empty()) fail(tag_at, "a node needs a non-empty tag");
    const std::size_t nattrs = (size - 1) >> 1;
    // Each attribute needs at least two bytes: don't reserve for more than can be there.
    n.attrs.reserve(std::min(nattrs, remaining() / 2));
    for (std::size_t i = 0; i < nattrs; ++i) {
      count_item();
      Attr a;
      a.key = string(byte("an attribute key"), "an attribute key of <" + n.tag + ">");
      a.value = value(byte("an attribute value"), "the value of attribute '" + a.key + "' of <" + n.tag + ">");
      n.attrs.push_back(std::move(a));
    }
    if (size % 2 == 0) content(n, depth);
    return n;
  }

  void finish() const {
    if (pos_ != data_.size())
      fail(pos_, std::to_string(data_.size() - pos_) + " bytes left over after the node");
  }

 private:
  [[noreturn]] static void fail(std::size_t at, const std::string& what) { throw DecodeError(at, what); }

  std::size_t remaining() const { return data_.size() - pos_; }

  void count_item() {
    if (++items_ > limits_.max_items)
      fail(pos_, "more than " + std::to_string(limits_.max_items) + " nodes and attributes in one frame");
  }

  void need(std::size_t n, const std::string& what) const {
    if (n > remaining())
      fail(pos_, "truncated: expected " + std::to_string(n) + " bytes for " + what + ", " +
                     std::to_string(remaining()) + " left");
  }

  std::uint8_t byte(const std::string& what) {
    need(1, what);
    return data_[pos_++];
  }

  std::uint32_t uint_be(std::size_t n, const std::string& what) {
    need(n, what);
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = (v << 8) | data_[pos_++];
    return v;
  }

  std::size_t list_size(std::uint8_t t, const std::string& what) {
    switch (t) {
      case tag::kListEmpty: return 0;
      case tag::kList8: return byte("LIST_8 size");
      case tag::kList16: return uint_be(2, "LIST_16 size");
      default: fail(pos_ - 1, "expected a list tag for " + what + ", got " + hex_byte(t));
    }
  }

  std::size_t binary_length(std::uint8_t t) {
    switch (t) {
      case tag::kBinary8: return byte("BINARY_8 length");
      case tag::kBinary20: {
        const std::uint32_t v = uint_be(3, "BINARY_20 length");
        return v & 0xFFFFF;  // the top nibble of the first byte is not part of the length
      }
      default: return uint_be(4, "BINARY_32 length");
    }
  }

  std::string raw(std::size_t len, const std::string& what) {
    need(len, what);
    std::string s(reinterpret_cast<const char*>(data_.data() + pos_), len);
    pos_ += len;
    return s;
  }

  std::string packed(std::uint8_t t) {
    const std::size_t at = pos_;
    const std::uint8_t start = byte("a packed string's length");
    const std::size_t n = start & 0x7F;
    need(n, t == tag::kNibble8 ? "NIBBLE_8 data" : "HEX_8 data");
    std::string s;
    s.reserve(2 * n);
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint8_t b = data_[pos_++];
      for (const std::uint8_t v : {static_cast<std::uint8_t>(b >> 4), static_cast<std::uint8_t>(b & 0x0F)}) {
        if (t == tag::kHex8) {
          s += static_cast<char>(v < 10 ? '0' + v : 'A' + (v - 10));
        } else if (v <= 9) {
          s += static_cast<char>('0' + v);
        } else if (v == 10) {
          s += '-';
        } else if (v == 11) {
          s += '.';
        } else if (v == 15) {
          s += '\0';  // filler; only valid as the dropped last character (checked below)
        } else {
          fail(pos_ - 1, "invalid nibble value " + std::to_string(v) + " in NIBBLE_8 data");
        }
      }
    }
    if ((start & 0x80) != 0) {
      if (s.empty()) fail(at, "packed string with the odd-length bit set but no data");
      s.pop_back();
    }
    if (t == tag::kNibble8 && s.find('\0') != std::string::npos)
      fail(at, "NIBBLE_8 filler value 15 inside the string");
    return s;
  }

  // Any string-like tag: tokens, packed, raw, or a JID.
  Value value(std::uint8_t t, const std::string& what) {
    const std::size_t at = pos_ - 1;
    if (t == tag::kListEmpty) return std::string();
    if (auto tok = tokens_.single(t)) return std::string(*tok);
    if (t >= tag::kDictionary0 && t <= tag::kDictionary3) {
      const std::uint8_t idx = byte("a double-byte token index");
      return std::string(*tokens_.double_byte(t - tag::kDictionary0, idx));
    }
    switch (t) {
      case tag::kBinary8:
      case tag::kBinary20:
      case tag::kBinary32: {
        const std::size_t len = binary_length(t);
        return raw(len, what);
      }
      case tag::kNibble8:
      case tag::kHex8: return packed(t);
      case tag::kJidPair: {
        Jid j;
        j.user = string(byte("a JID user"), "the user of a JID_PAIR");
        const std::size_t srv_at = pos_;
        j.server = string(byte("a JID server"), "the server of a JID_PAIR");
        if (j.server.empty()) fail(srv_at, "JID_PAIR with an empty server");
        return j;
      }
      case tag::kAdJid: {
        const std::uint8_t domain = byte("the AD_JID domain");
        Jid j;
        j.device = byte("the AD_JID device");
        j.user = string(byte("an AD_JID user"), "the user of an AD_JID");
        switch (domain) {
          case 0: j.server = server::kUser; break;
          case 1: j.server = server::kLid; break;
          case 128: j.server = server::kHosted; break;
          case 129: j.server = server::kHostedLid; break;
          default:  // whatsmeow keeps other values as a raw agent on s.whatsapp.net
            j.server = server::kUser;
            j.agent = domain;
        }
        return j;
      }
      case tag::kFbJid: {
        Jid j;
        j.user = string(byte("an FB_JID user"), "the user of an FB_JID");
        j.device = static_cast<std::uint16_t>(uint_be(2, "the FB_JID device"));
        const std::size_t srv_at = pos_;
        j.server = string(byte("the FB_JID server"), "the server of an FB_JID");
        if (j.server != server::kMessenger) fail(srv_at, "FB_JID server must be 'msgr', got '" + j.server + "'");
        return j;
      }
      case tag::kInteropJid: {
        Jid j;
        j.user = string(byte("an INTEROP_JID user"), "the user of an INTEROP_JID");
        j.device = static_cast<std::uint16_t>(uint_be(2, "the INTEROP_JID device"));
        j.integrator = static_cast<std::uint16_t>(uint_be(2, "the INTEROP_JID integrator"));
        const std::size_t srv_at = pos_;
        j.server = string(byte("the INTEROP_JID server"), "the server of an INTEROP_JID");
        if (j.server != server::kInterop) fail(srv_at, "INTEROP_JID server must be 'interop', got '" + j.server + "'");
        return j;
      }
      default: break;
    }
    fail(at, "expected a string for " + what + ", got tag " + hex_byte(t));
  }

  // A plain string: JIDs are not allowed here (tags, keys, JID parts).
  // Checked before reading, so JIDs nested in JID parts can't recurse without bound.
  std::string string(std::uint8_t t, const std::string& what) {
    if (t == tag::kJidPair || t == tag::kAdJid || t == tag::kFbJid || t == tag::kInteropJid)
      fail(pos_ - 1, "expected a plain string for " + what + ", got a JID");
    return std::get<std::string>(value(t, what));
  }

  void content(Node& n, std::size_t depth) {
    const std::uint8_t t = byte("the content of <" + n.tag + ">");
    if (t == tag::kListEmpty || t == tag::kList8 || t == tag::kList16) {
      const std::size_t count = list_size(t, "children");
      NodeList list;
      list.reserve(std::min(count, remaining() / 2));  // a child is at least two bytes
      for (std::size_t i = 0; i < count; ++i) list.push_back(node(depth + 1));
      n.content = std::move(list);
      return;
    }
    if (t == tag::kBinary8 || t == tag::kBinary20 || t == tag::kBinary32) {
      const std::size_t len = binary_length(t);
      need(len, "the binary content of <" + n.tag + ">");
      n.content = Bytes(data_.begin() + static_cast<std::ptrdiff_t>(pos_),
                        data_.begin() + static_cast<std::ptrdiff_t>(pos_ + len));
      pos_ += len;
      return;
    }
    Value v = value(t, "the content of <" + n.tag + ">");
    if (auto* s = std::get_if<std::string>(&v)) {
      n.content = std::move(*s);
    } else {
      n.content = std::move(std::get<Jid>(v));
    }
  }

  std::span<const std::uint8_t> data_;
  const Tokens& tokens_;
  const DecodeLimits& limits_;
  std::size_t pos_ = 0;
  std::size_t items_ = 0;
};

}  // namespace

Node decode_node(std::span<const std::uint8_t> data, Dict dict, const DecodeLimits& limits) {
  if (data.size() > limits.max_input)
    throw DecodeError(0, "node of " + std::to_string(data.size()) + " bytes exceeds the limit of " +
                             std::to_string(limits.max_input));
  Decoder d(data, dict, limits);
  Node n = d.node(1);
  d.finish();
  return n;
}

Node decode_frame(std::span<const std::uint8_t> frame, Dict dict, const DecodeLimits& limits) {
  if (!frame.empty() && (frame[0] & kFlagCompressed) == 0) return decode_node(frame.subspan(1), dict, limits);
  const Bytes body = unpack_frame(frame, limits.max_inflated);
  return decode_node(body, dict, limits);
}

}  // namespace wa::binary
