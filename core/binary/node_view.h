// Read-only views of a decoded frame: the fast path of the decoder. One DecodedFrame owns the
// node bytes and a flat table of nodes and attributes; tags, keys, strings and binary content are
// string_views into those bytes, into the static token tables or into the frame's own text arena
// (unpacked nibble/hex strings). No allocation per node or per attribute.
// Ownership: every view (NodeView, AttrView, JidView and the string_views they return) is valid
// while the DecodedFrame that produced it lives, also after that frame was moved; copy what you
// keep (to_node(), to_jid(), std::string(...)).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/binary/node.h"

namespace wa::binary {

// A JID as it was on the wire (see Jid for the meaning of the fields).
struct JidView {
  std::string_view user;
  std::string_view server;
  std::uint8_t agent = 0;
  bool has_device = false;
  std::uint16_t device = 0;
  std::uint16_t integrator = 0;

  Jid to_jid() const;
  std::string to_string() const { return to_jid().to_string(); }
};

// An attribute, or a node's JID content. Flat (no JidView inside) to keep the table small.
struct AttrView {
  std::string_view key;
  std::string_view text;    // the string value; for a JID, its user part
  std::string_view server;  // a JID's server: never empty for a JID, always empty for a string
  std::uint16_t device = 0;
  std::uint16_t integrator = 0;
  std::uint8_t agent = 0;
  bool has_device = false;

  bool is_jid() const { return !server.empty(); }
  JidView jid() const { return JidView{text, server, agent, has_device, device, integrator}; }
  Value to_value() const;
  // The value as text (JIDs formatted), as Node::attr_text.
  std::string to_text() const;
};

enum class ContentKind : std::uint8_t { none, list, bytes, string, jid };

namespace detail {

// One node in the flat table. Children of a node are contiguous: [first, first + count).
struct NodeRec {
  std::string_view tag;
  std::string_view data;  // bytes or string content
  std::uint32_t first_attr = 0;
  std::uint32_t attr_count = 0;
  std::uint32_t first = 0;  // first child (list) or the AttrView holding a JID content
  std::uint32_t count = 0;  // child count (list)
  ContentKind kind = ContentKind::none;
};

// Storage for strings unpacked from NIBBLE_8 / HEX_8: blocks that never move, so views into
// them stay valid while more strings are added and when the owner is moved. The first block can
// be given (spare room in the frame's own buffer); more are allocated when it is full.
class TextArena {
 public:
  TextArena() = default;
  TextArena(TextArena&& o) noexcept { take(o); }
  TextArena& operator=(TextArena&& o) noexcept {
    if (this != &o) {
      release();
      take(o);
    }
    return *this;
  }
  ~TextArena() { release(); }

  void start(char* first, std::size_t size) {
    cur_ = first;
    left_ = size;
  }
  char* alloc(std::size_t n) {  // n <= 254 (a packed string's maximum)
    if (n > left_) grow();
    char* p = cur_;
    cur_ += n;
    left_ -= n;
    return p;
  }

 private:
  void grow();
  void release();  // iterative: a long chain must not recurse in destructors
  void take(TextArena& o) {
    blocks_ = std::move(o.blocks_);
    cur_ = o.cur_;
    left_ = o.left_;
    o.cur_ = nullptr;
    o.left_ = 0;
  }
  struct Block {
    std::unique_ptr<Block> next;
    char text[4096];
  };
  std::unique_ptr<Block> blocks_;
  char* cur_ = nullptr;
  std::size_t left_ = 0;
};

// A growable table that starts in memory it is given (the frame's block, or the stack) and moves
// to the heap only when that is full. Callers use indices while filling it, so the move is safe;
// once filled, the data never moves again (also not when the owner is moved).
template <typename T>
class Table {
 public:
  void start(T* first, std::size_t capacity) {
    data_ = first;
    cap_ = capacity;
    size_ = 0;
    heap_.reset();
  }
  std::size_t size() const { return size_; }
  T* data() { return data_; }
  const T* data() const { return data_; }
  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }
  void resize(std::size_t n) {
    if (n > cap_) grow(n);
    for (std::size_t i = size_; i < n; ++i) std::construct_at(data_ + i);
    size_ = n;
  }
  T& emplace_back() {
    resize(size_ + 1);
    return data_[size_ - 1];
  }

 private:
  void grow(std::size_t n) {
    const std::size_t cap = std::max(n, 2 * cap_ + 8);
    auto heap = std::make_unique<T[]>(cap);
    std::copy(data_, data_ + size_, heap.get());
    heap_ = std::move(heap);
    data_ = heap_.get();
    cap_ = cap;
  }
  T* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t cap_ = 0;
  std::unique_ptr<T[]> heap_;
};

struct FrameAccess;

struct FrameStorage {
  Table<NodeRec> nodes;  // nodes[0] is the root
  Table<AttrView> attrs;
  TextArena text;
};

// The one block a DecodedFrame keeps its tables, its copy of the node and its text in. Freed
// blocks are kept for reuse by the next frame decoded on the same thread (a few, bounded in size;
// not under AddressSanitizer, so a view used after its frame died is still reported).
struct BlockDeleter {
  std::size_t size = 0;
  void operator()(std::uint8_t* p) const;
};
using Block = std::unique_ptr<std::uint8_t[], BlockDeleter>;
Block acquire_block(std::size_t size);

}  // namespace detail

class NodeView;

// The children of a node, as a random-access range of NodeView.
class ChildList {
 public:
  class iterator {
   public:
    using difference_type = std::ptrdiff_t;
    using value_type = NodeView;
    iterator() = default;
    iterator(const detail::FrameStorage* st, const detail::NodeRec* p) : st_(st), p_(p) {}
    NodeView operator*() const;
    iterator& operator++() {
      ++p_;
      return *this;
    }
    iterator operator++(int) {
      iterator t = *this;
      ++p_;
      return t;
    }
    friend bool operator==(const iterator& a, const iterator& b) { return a.p_ == b.p_; }

   private:
    const detail::FrameStorage* st_ = nullptr;
    const detail::NodeRec* p_ = nullptr;
  };

  ChildList() = default;
  ChildList(const detail::FrameStorage* st, const detail::NodeRec* first, std::size_t n)
      : st_(st), first_(first), n_(n) {}
  iterator begin() const { return {st_, first_}; }
  iterator end() const { return {st_, first_ + n_}; }
  std::size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  NodeView operator[](std::size_t i) const;

 private:
  const detail::FrameStorage* st_ = nullptr;
  const detail::NodeRec* first_ = nullptr;
  std::size_t n_ = 0;
};

class NodeView {
 public:
  NodeView(const detail::FrameStorage* st, const detail::NodeRec* rec) : st_(st), rec_(rec) {}

  std::string_view tag() const { return rec_->tag; }
  std::span<const AttrView> attrs() const { return {st_->attrs.data() + rec_->first_attr, rec_->attr_count}; }
  // First attribute with this key, or nullptr.
  const AttrView* attr(std::string_view key) const;
  std::optional<std::string> attr_text(std::string_view key) const;

  ContentKind content_kind() const { return rec_->kind; }
  // Child nodes; empty when the content is not a list.
  ChildList children() const;
  // First child with this tag.
  std::optional<NodeView> child(std::string_view tag) const;
  // Binary content; empty when the content is not bytes.
  std::span<const std::uint8_t> bytes() const;
  // String content; empty when the content is not a string.
  std::string_view text() const { return rec_->kind == ContentKind::string ? rec_->data : std::string_view(); }
  // JID content, or nullopt.
  std::optional<JidView> jid() const {
    if (rec_->kind != ContentKind::jid) return std::nullopt;
    return st_->attrs[rec_->first].jid();
  }

  // An owning copy (the Node every other API takes).
  Node to_node() const;

 private:
  void fill(Node& out) const;
  const detail::FrameStorage* st_;
  const detail::NodeRec* rec_;
};

inline NodeView ChildList::iterator::operator*() const { return NodeView(st_, p_); }
inline NodeView ChildList::operator[](std::size_t i) const { return NodeView(st_, first_ + i); }

// The decoded node of one frame with the bytes it views into. Non-copyable; moving keeps every
// view valid (the buffers are heap blocks that move with it).
class DecodedFrame {
 public:
  DecodedFrame() = default;
  DecodedFrame(DecodedFrame&&) noexcept = default;
  DecodedFrame& operator=(DecodedFrame&&) noexcept = default;
  DecodedFrame(const DecodedFrame&) = delete;
  DecodedFrame& operator=(const DecodedFrame&) = delete;

  // The root node; only valid on a frame returned by decode_frame_view.
  NodeView root() const { return NodeView(&st_, st_.nodes.data()); }
  Node to_node() const { return root().to_node(); }
  // The node bytes the views point into (after the flag byte, inflated).
  std::span<const std::uint8_t> node_bytes() const { return node_; }

 private:
  friend struct detail::FrameAccess;  // the decoder fills it
  Bytes owned_;                          // a plaintext taken over, or the inflated node
  detail::Block block_;                  // the tables, the text room and maybe a copy of the node
  std::span<const std::uint8_t> node_;   // into owned_ or block_
  detail::FrameStorage st_;
};

}  // namespace wa::binary
