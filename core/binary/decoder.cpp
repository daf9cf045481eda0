#include "core/binary/decoder.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>

#include "core/binary/frame.h"
#include "core/binary/token_data.h"

namespace wa::binary {

DecodeError::DecodeError(std::size_t offset, const std::string& what)
    : std::runtime_error("binary node: offset " + std::to_string(offset) + ": " + what), offset_(offset) {}

namespace detail {

// Lets the decoder fill a DecodedFrame's private storage.
struct FrameAccess {
  static Bytes& owned(DecodedFrame& f) { return f.owned_; }
  static Block& block(DecodedFrame& f) { return f.block_; }
  static std::span<const std::uint8_t>& node(DecodedFrame& f) { return f.node_; }
  static FrameStorage& storage(DecodedFrame& f) { return f.st_; }
};

}  // namespace detail

namespace {

using detail::NodeRec;

std::string hex_byte(std::uint8_t b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", b);
  return buf;
}

bool is_jid_tag(std::uint8_t t) {
  return t == tag::kJidPair || t == tag::kAdJid || t == tag::kFbJid || t == tag::kInteropJid;
}

// Packed strings: each byte gives two characters and, for NIBBLE_8, the classes of its nibbles.
constexpr unsigned kInvalid = 1;  // nibble 12..14
constexpr unsigned kFiller = 2;   // nibble 15 (only valid as the dropped last character)

struct UnpackEntry {
  char chars[2];
  std::uint8_t cls;
};

struct UnpackTables {
  UnpackEntry hex[256];
  UnpackEntry nibble[256];
  constexpr UnpackTables() : hex(), nibble() {
    constexpr char kHex[] = "0123456789ABCDEF";
    constexpr char kNibble[] = "0123456789-.\0\0\0\0";
    auto cls = [](unsigned v) -> std::uint8_t { return v == 15 ? kFiller : (v >= 12 ? kInvalid : 0); };
    for (unsigned b = 0; b < 256; ++b) {
      hex[b] = UnpackEntry{{kHex[b >> 4], kHex[b & 15]}, 0};
      nibble[b] = UnpackEntry{{kNibble[b >> 4], kNibble[b & 15]},
                              static_cast<std::uint8_t>(cls(b >> 4) | cls(b & 15))};
    }
  }
};
constexpr UnpackTables kUnpack;

// Bytes -> flat node table. Error texts are built only when failing (the hot path passes static
// "what" strings), so a well-formed frame costs no string work beyond the views themselves.
class Parser {
 public:
  Parser(std::span<const std::uint8_t> data, Dict dict, const DecodeLimits& limits, detail::FrameStorage& st)
      : p_(data.data()),
        size_(data.size()),
        tok_(dict == Dict::v2 ? detail::kTokensV2 : detail::kTokensV3),
        max_depth_(limits.max_depth),
        // Indices in the table are 32-bit; a frame within max_input never comes near that.
        max_items_(std::min<std::size_t>(limits.max_items, std::numeric_limits<std::uint32_t>::max() / 2)),
        st_(st) {}

  // The storage's tables and text arena must be started (given their first memory).
  void run() {
    st_.nodes.emplace_back();
    node(0, 1);
    if (pos_ != size_) fail(pos_, std::to_string(size_ - pos_) + " bytes left over after the node");
  }

 private:
  [[noreturn]] [[gnu::cold]] [[gnu::noinline]] static void fail(std::size_t at, const std::string& what) {
    throw DecodeError(at, what);
  }

  [[noreturn]] [[gnu::cold]] [[gnu::noinline]] void truncated(std::size_t n, const char* what) const {
    fail(pos_, "truncated: expected " + std::to_string(n) + " bytes for " + what + ctx() + ", " +
                   std::to_string(remaining()) + " left");
  }

  // " of <tag>" for the node being read, to place an error.
  std::string ctx() const { return tag_.empty() ? std::string() : " of <" + std::string(tag_) + ">"; }

  std::size_t remaining() const { return size_ - pos_; }

  void need(std::size_t n, const char* what) const {
    if (n > remaining()) truncated(n, what);
  }

  std::uint8_t byte(const char* what) {
    if (pos_ >= size_) truncated(1, what);
    return p_[pos_++];
  }

  std::uint32_t uint_be(std::size_t n, const char* what) {
    need(n, what);
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = (v << 8) | p_[pos_++];
    return v;
  }

  // `n` more items (nodes or attributes) would pass the limit.
  void check_items(std::size_t n) const {
    if (n > max_items_ - std::min(items_, max_items_))
      fail(pos_, "more than " + std::to_string(max_items_) + " nodes and attributes in one frame");
  }

  std::size_t list_size(std::uint8_t t, const char* what) {
    switch (t) {
      case tag::kListEmpty: return 0;
      case tag::kList8: return byte("LIST_8 size");
      case tag::kList16: return uint_be(2, "LIST_16 size");
      default: fail(pos_ - 1, std::string("expected a list tag for ") + what + ctx() + ", got " + hex_byte(t));
    }
  }

  std::size_t binary_length(std::uint8_t t) {
    switch (t) {
      case tag::kBinary8: return byte("BINARY_8 length");
      case tag::kBinary20: return uint_be(3, "BINARY_20 length") & 0xFFFFF;  // top nibble is not length
      default: return uint_be(4, "BINARY_32 length");
    }
  }

  void node(std::uint32_t slot, std::size_t depth) {
    if (depth > max_depth_) fail(pos_, "nodes nested deeper than the limit of " + std::to_string(max_depth_));
    check_items(1);
    ++items_;
    const std::string_view parent = tag_;  // error texts inside a child's header name the parent
    const std::size_t start = pos_;
    const std::size_t size = list_size(byte("a node's list header"), "a node's list header");
    if (size == 0) fail(start, "a node needs a list header of size >= 1, got an empty list");
    const std::size_t tag_at = pos_;
    const std::string_view tag = string(byte("the node tag"), "the node tag");
    if (tag.empty()) fail(tag_at, "a node needs a non-empty tag");
    tag_ = tag;
    const std::size_t nattrs = (size - 1) >> 1;
    // Each attribute needs at least two bytes: refuse before sizing the table.
    if (nattrs > remaining() / 2) truncated(2 * nattrs, "the attributes");
    check_items(nattrs);
    items_ += nattrs;
    const std::size_t first_attr = st_.attrs.size();
    st_.attrs.resize(first_attr + nattrs);
    for (std::size_t i = 0; i < nattrs; ++i) {
      AttrView& a = st_.attrs[first_attr + i];
      a.key = string(byte("an attribute key"), "an attribute key");
      value(byte("an attribute value"), a, "an attribute value");
    }
    NodeRec& rec = st_.nodes[slot];
    rec.tag = tag;
    rec.first_attr = static_cast<std::uint32_t>(first_attr);
    rec.attr_count = static_cast<std::uint32_t>(nattrs);
    if (size % 2 == 0) content(slot, depth);
    tag_ = parent;
  }

  void content(std::uint32_t slot, std::size_t depth) {
    const std::uint8_t t = byte("the content");
    if (t == tag::kListEmpty || t == tag::kList8 || t == tag::kList16) {
      const std::size_t count = list_size(t, "children");
      if (count > remaining() / 2) truncated(2 * count, "the children");  // a child is >= 2 bytes
      check_items(count);
      const auto first = static_cast<std::uint32_t>(st_.nodes.size());
      st_.nodes.resize(first + count);
      NodeRec& rec = st_.nodes[slot];  // after the resize: it may have moved
      rec.kind = ContentKind::list;
      rec.first = first;
      rec.count = static_cast<std::uint32_t>(count);
      for (std::size_t i = 0; i < count; ++i) node(static_cast<std::uint32_t>(first + i), depth + 1);
      return;
    }
    if (t == tag::kBinary8 || t == tag::kBinary20 || t == tag::kBinary32) {
      const std::size_t len = binary_length(t);
      need(len, "the binary content");
      NodeRec& rec = st_.nodes[slot];
      rec.kind = ContentKind::bytes;
      rec.data = std::string_view(reinterpret_cast<const char*>(p_ + pos_), len);
      pos_ += len;
      return;
    }
    if (is_jid_tag(t)) {
      const std::size_t at = st_.attrs.size();
      AttrView& a = st_.attrs.emplace_back();
      value(t, a, "the content");
      NodeRec& rec = st_.nodes[slot];
      rec.kind = ContentKind::jid;
      rec.first = static_cast<std::uint32_t>(at);
      return;
    }
    const std::string_view s = string(t, "the content");
    NodeRec& rec = st_.nodes[slot];
    rec.kind = ContentKind::string;
    rec.data = s;
  }

  std::string_view raw(std::size_t len, const char* what) {
    need(len, what);
    const std::string_view s(reinterpret_cast<const char*>(p_ + pos_), len);
    pos_ += len;
    return s;
  }

  [[gnu::noinline]] std::string_view packed(std::uint8_t t) {
    const std::size_t at = pos_;
    const std::uint8_t start = byte("a packed string's length");
    const std::size_t n = start & 0x7F;
    const bool hex = t == tag::kHex8;
    need(n, hex ? "HEX_8 data" : "NIBBLE_8 data");
    const bool odd = (start & 0x80) != 0;
    if (odd && n == 0) fail(at, "packed string with the odd-length bit set but no data");
    char* out = st_.text.alloc(2 * n);
    const std::uint8_t* in = p_ + pos_;
    const std::size_t len = 2 * n - (odd ? 1 : 0);
    const auto& tab = hex ? kUnpack.hex : kUnpack.nibble;
    unsigned bad = 0;  // nibble classes seen (hex: always 0)
    if (n > 0) {
      for (std::size_t i = 0; i + 1 < n; ++i) {
        std::memcpy(out + 2 * i, tab[in[i]].chars, 2);
        bad |= tab[in[i]].cls;
      }
      const std::uint8_t last = in[n - 1];
      std::memcpy(out + 2 * n - 2, tab[last].chars, 2);
      // The filler (15) as the dropped last character of an odd-length string is the normal case.
      bad |= odd ? tab[last & 0xF0].cls | (tab[last & 0x0F].cls & kInvalid) : tab[last].cls;
    }
    if (bad != 0) packed_error(in, n, at);
    pos_ += n;
    return std::string_view(out, len);
  }

  // Finds what packed() refused, for the error: an invalid nibble, or a filler inside the string.
  [[noreturn]] [[gnu::cold]] [[gnu::noinline]] void packed_error(const std::uint8_t* in, std::size_t n,
                                                                std::size_t at) const {
    for (std::size_t i = 0; i < n; ++i) {
      const unsigned hi = in[i] >> 4;
      const unsigned lo = in[i] & 0x0F;
      if (hi >= 12 && hi <= 14) fail(pos_ + i, "invalid nibble value " + std::to_string(hi) + " in NIBBLE_8 data");
      if (lo >= 12 && lo <= 14) fail(pos_ + i, "invalid nibble value " + std::to_string(lo) + " in NIBBLE_8 data");
    }
    fail(at, "NIBBLE_8 filler value 15 inside the string");
  }

  // A plain string: tokens, packed, raw. JIDs are not allowed here (tags, keys, JID parts);
  // checked before reading, so JIDs nested in JID parts can't recurse. Single-byte tokens (most
  // tags, keys and values) take the inline path.
  std::string_view string(std::uint8_t t, const char* what) {
    if (t < tag::kDictionary0) [[likely]]
      return tok_.single[t];  // index 0 is the empty string
    return string_slow(t, what);
  }

  [[gnu::noinline]] std::string_view string_slow(std::uint8_t t, const char* what) {
    if (t <= tag::kDictionary3) {
      const std::uint8_t idx = byte("a double-byte token index");
      return tok_.dbl[t - tag::kDictionary0][idx];
    }
    switch (t) {
      case tag::kBinary8:
      case tag::kBinary20:
      case tag::kBinary32: return raw(binary_length(t), what);
      case tag::kNibble8:
      case tag::kHex8: return packed(t);
      case tag::kJidPair:
      case tag::kAdJid:
      case tag::kFbJid:
      case tag::kInteropJid:
        fail(pos_ - 1, std::string("expected a plain string for ") + what + ctx() + ", got a JID");
      default: break;
    }
    fail(pos_ - 1, std::string("expected a string for ") + what + ctx() + ", got tag " + hex_byte(t));
  }

  // The server of an FB_JID or INTEROP_JID, which has exactly one valid value.
  void fixed_server(AttrView& out, std::string_view want, const char* jid_type) {
    const std::size_t at = pos_;
    out.server = string(byte("a JID server"), "the server of a JID");
    if (out.server != want)
      fail(at, std::string(jid_type) + " server must be '" + std::string(want) + "', got '" +
                   std::string(out.server) + "'");
  }

  // Any string-like value: a plain string or a JID.
  void value(std::uint8_t t, AttrView& out, const char* what) {
    switch (t) {
      case tag::kJidPair: {
        out.text = string(byte("a JID user"), "the user of a JID_PAIR");
        const std::size_t srv_at = pos_;
        out.server = string(byte("a JID server"), "the server of a JID_PAIR");
        if (out.server.empty()) fail(srv_at, "JID_PAIR with an empty server");
        return;
      }
      case tag::kAdJid: {
        const std::uint8_t domain = byte("the AD_JID domain");
        out.has_device = true;
        out.device = byte("the AD_JID device");
        out.text = string(byte("an AD_JID user"), "the user of an AD_JID");
        switch (domain) {
          case 0: out.server = server::kUser; break;
          case 1: out.server = server::kLid; break;
          case 128: out.server = server::kHosted; break;
          case 129: out.server = server::kHostedLid; break;
          default:  // whatsmeow keeps other values as a raw agent on s.whatsapp.net
            out.server = server::kUser;
            out.agent = domain;
        }
        return;
      }
      case tag::kFbJid:
        out.text = string(byte("an FB_JID user"), "the user of an FB_JID");
        out.has_device = true;
        out.device = static_cast<std::uint16_t>(uint_be(2, "the FB_JID device"));
        return fixed_server(out, server::kMessenger, "FB_JID");
      case tag::kInteropJid:
        out.text = string(byte("an INTEROP_JID user"), "the user of an INTEROP_JID");
        out.has_device = true;
        out.device = static_cast<std::uint16_t>(uint_be(2, "the INTEROP_JID device"));
        out.integrator = static_cast<std::uint16_t>(uint_be(2, "the INTEROP_JID integrator"));
        return fixed_server(out, server::kInterop, "INTEROP_JID");
      default: out.text = string(t, what);
    }
  }

  const std::uint8_t* p_;
  std::size_t size_;
  std::size_t pos_ = 0;
  const detail::TokenTableData& tok_;
  std::size_t max_depth_;
  std::size_t max_items_;
  std::size_t items_ = 0;
  std::string_view tag_;  // the node being read, for error texts
  detail::FrameStorage& st_;
};

void check_input_size(std::size_t n, const DecodeLimits& limits) {
  if (n > limits.max_input)
    throw DecodeError(0, "node of " + std::to_string(n) + " bytes exceeds the limit of " +
                             std::to_string(limits.max_input));
}

void parse(std::span<const std::uint8_t> data, Dict dict, const DecodeLimits& limits, detail::FrameStorage& st) {
  Parser(data, dict, limits, st).run();
}

// How a frame's block is laid out: node table, attribute table, (a copy of the node), text room.
// Sized from the node so a typical stanza never spills to the heap: about one node per 24 bytes,
// one attribute per 8, two characters per packed byte; bounded for large payloads.
struct Layout {
  std::size_t nodes, attrs, copy, text;
  Layout(std::size_t node_size, bool copy_node)
      : nodes(std::clamp<std::size_t>(node_size / 24, 8, 2048)),
        attrs(std::clamp<std::size_t>(node_size / 8, 16, 4096)),
        copy(copy_node ? node_size : 0),
        text(std::min<std::size_t>(2 * node_size, 1024)) {}
  std::size_t attrs_at() const { return nodes * sizeof(detail::NodeRec); }
  std::size_t copy_at() const { return attrs_at() + attrs * sizeof(AttrView); }
  std::size_t text_at() const { return copy_at() + copy; }
  std::size_t total() const { return text_at() + text; }
};
static_assert(sizeof(detail::NodeRec) % alignof(AttrView) == 0 && alignof(detail::NodeRec) <= 16);

// Fills `f` from node bytes already in place (f.node_); `copy_from` is copied into the block first.
void fill_frame(DecodedFrame& f, std::span<const std::uint8_t> copy_from, Dict dict, const DecodeLimits& limits) {
  auto& node = detail::FrameAccess::node(f);
  const std::size_t size = copy_from.empty() ? node.size() : copy_from.size();
  check_input_size(size, limits);  // before allocating for it
  const Layout lay(size, !copy_from.empty());
  auto& block = detail::FrameAccess::block(f);
  block = detail::acquire_block(lay.total());
  std::uint8_t* b = block.get();
  auto& st = detail::FrameAccess::storage(f);
  st.nodes.start(reinterpret_cast<detail::NodeRec*>(b), lay.nodes);
  st.attrs.start(reinterpret_cast<AttrView*>(b + lay.attrs_at()), lay.attrs);
  if (!copy_from.empty()) {
    std::memcpy(b + lay.copy_at(), copy_from.data(), copy_from.size());
    node = std::span<const std::uint8_t>(b + lay.copy_at(), copy_from.size());
  }
  st.text.start(reinterpret_cast<char*>(b + lay.text_at()), lay.text);
  parse(node, dict, limits, st);
}

}  // namespace

Node decode_node(std::span<const std::uint8_t> data, Dict dict, const DecodeLimits& limits) {
  check_input_size(data.size(), limits);
  // The views only live until they are copied into the Node: the stack holds a typical stanza.
  detail::FrameStorage st;
  alignas(detail::NodeRec) std::uint8_t nodes[32 * sizeof(detail::NodeRec)];
  alignas(AttrView) std::uint8_t attrs[64 * sizeof(AttrView)];
  char text[1024];
  st.nodes.start(reinterpret_cast<detail::NodeRec*>(nodes), 32);
  st.attrs.start(reinterpret_cast<AttrView*>(attrs), 64);
  st.text.start(text, sizeof text);
  parse(data, dict, limits, st);
  return NodeView(&st, st.nodes.data()).to_node();
}

Node decode_frame(std::span<const std::uint8_t> frame, Dict dict, const DecodeLimits& limits) {
  if (!frame.empty() && (frame[0] & kFlagCompressed) == 0) return decode_node(frame.subspan(1), dict, limits);
  const Bytes body = unpack_frame(frame, limits.max_inflated);
  return decode_node(body, dict, limits);
}

DecodedFrame decode_frame_view(Bytes&& frame, Dict dict, const DecodeLimits& limits) {
  DecodedFrame f;
  Bytes& owned = detail::FrameAccess::owned(f);
  if (!frame.empty() && (frame[0] & kFlagCompressed) == 0) {
    owned = std::move(frame);
    detail::FrameAccess::node(f) = std::span<const std::uint8_t>(owned).subspan(1);
  } else {
    owned = unpack_frame(frame, limits.max_inflated);  // errors on an empty frame
    detail::FrameAccess::node(f) = owned;
  }
  fill_frame(f, {}, dict, limits);
  return f;
}

DecodedFrame decode_frame_view(std::span<const std::uint8_t> frame, Dict dict, const DecodeLimits& limits) {
  if (frame.empty() || (frame[0] & kFlagCompressed) != 0) {
    DecodedFrame f;
    Bytes& owned = detail::FrameAccess::owned(f);
    owned = unpack_frame(frame, limits.max_inflated);
    detail::FrameAccess::node(f) = owned;
    fill_frame(f, {}, dict, limits);
    return f;
  }
  DecodedFrame f;
  const auto node = frame.subspan(1);
  if (node.empty()) {  // nothing to copy: decode the empty node in place (an error)
    detail::FrameAccess::node(f) = node;
    fill_frame(f, {}, dict, limits);
    return f;
  }
  fill_frame(f, node, dict, limits);
  return f;
}

}  // namespace wa::binary
