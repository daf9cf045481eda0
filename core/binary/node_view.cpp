#include "core/binary/node_view.h"

namespace wa::binary {

namespace detail {

void TextArena::release() {
  while (blocks_) blocks_ = std::move(blocks_->next);
}

void TextArena::grow() {
  auto b = std::make_unique_for_overwrite<Block>();
  b->next = std::move(blocks_);
  blocks_ = std::move(b);
  cur_ = blocks_->text;
  left_ = sizeof blocks_->text;
}

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kRecycle = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kRecycle = false;
#else
constexpr bool kRecycle = true;
#endif
#else
constexpr bool kRecycle = true;
#endif

constexpr std::size_t kCachedBlocks = 4;
constexpr std::size_t kMaxCachedBlock = 64 * 1024;  // larger frames are rare: plain new/delete

struct BlockCache {
  std::unique_ptr<std::uint8_t[]> blocks[kCachedBlocks];
  std::size_t sizes[kCachedBlocks] = {};
  ~BlockCache();
};

// Set once the thread's cache is destroyed (frames freed later, e.g. by statics, just free).
thread_local bool cache_gone = false;

BlockCache::~BlockCache() { cache_gone = true; }

BlockCache* cache() {
  if (cache_gone) return nullptr;
  thread_local BlockCache c;
  return &c;
}

}  // namespace

void BlockDeleter::operator()(std::uint8_t* p) const {
  std::unique_ptr<std::uint8_t[]> block(p);  // freed here unless the cache keeps it
  if (!kRecycle || size > kMaxCachedBlock) return;
  BlockCache* cp = cache();
  if (cp == nullptr) return;
  BlockCache& c = *cp;
  std::size_t slot = 0;  // an empty slot, else the smallest block
  for (std::size_t i = 0; i < kCachedBlocks; ++i) {
    if (!c.blocks[i]) {
      slot = i;
      break;
    }
    if (c.sizes[i] < c.sizes[slot]) slot = i;
  }
  if (!c.blocks[slot] || c.sizes[slot] < size) {
    c.blocks[slot] = std::move(block);
    c.sizes[slot] = size;
  }
}

Block acquire_block(std::size_t size) {
  if (BlockCache* cp = kRecycle && size <= kMaxCachedBlock ? cache() : nullptr) {
    BlockCache& c = *cp;
    for (std::size_t i = 0; i < kCachedBlocks; ++i) {
      if (c.blocks[i] && c.sizes[i] >= size) return Block(c.blocks[i].release(), BlockDeleter{c.sizes[i]});
    }
    size = (size + 4095) & ~std::size_t{4095};  // round up so the block fits later frames too
  }
  // Not value-initialised: every byte is written before it is read.
  return Block(std::make_unique_for_overwrite<std::uint8_t[]>(size).release(), BlockDeleter{size});
}

}  // namespace detail

Jid JidView::to_jid() const {
  Jid j;
  j.user.assign(user);
  j.server.assign(server);
  j.agent = agent;
  if (has_device) j.device = device;
  j.integrator = integrator;
  return j;
}

Value AttrView::to_value() const {
  if (is_jid()) return jid().to_jid();
  return std::string(text);
}

std::string AttrView::to_text() const { return is_jid() ? jid().to_string() : std::string(text); }

const AttrView* NodeView::attr(std::string_view key) const {
  for (const auto& a : attrs())
    if (a.key == key) return &a;
  return nullptr;
}

std::optional<std::string> NodeView::attr_text(std::string_view key) const {
  const AttrView* a = attr(key);
  if (a == nullptr) return std::nullopt;
  return a->to_text();
}

ChildList NodeView::children() const {
  if (rec_->kind != ContentKind::list) return {};
  return ChildList(st_, st_->nodes.data() + rec_->first, rec_->count);
}

std::optional<NodeView> NodeView::child(std::string_view t) const {
  for (const NodeView c : children())
    if (c.tag() == t) return c;
  return std::nullopt;
}

std::span<const std::uint8_t> NodeView::bytes() const {
  if (rec_->kind != ContentKind::bytes) return {};
  return {reinterpret_cast<const std::uint8_t*>(rec_->data.data()), rec_->data.size()};
}

void NodeView::fill(Node& out) const {
  out.tag.assign(rec_->tag);
  const auto as = attrs();
  out.attrs.reserve(as.size());
  for (const auto& a : as) {
    Attr& dst = out.attrs.emplace_back();
    dst.key.assign(a.key);
    if (a.is_jid()) {
      dst.value = a.jid().to_jid();
    } else {
      dst.value.emplace<std::string>(a.text);
    }
  }
  switch (rec_->kind) {
    case ContentKind::none: break;
    case ContentKind::list: {
      NodeList& list = out.content.emplace<NodeList>();
      list.resize(rec_->count);
      const detail::NodeRec* first = st_->nodes.data() + rec_->first;
      for (std::uint32_t i = 0; i < rec_->count; ++i) NodeView(st_, first + i).fill(list[i]);
      break;
    }
    case ContentKind::bytes: {
      const auto b = bytes();
      out.content.emplace<Bytes>(b.begin(), b.end());
      break;
    }
    case ContentKind::string: out.content.emplace<std::string>(rec_->data); break;
    case ContentKind::jid: out.content = jid()->to_jid(); break;
  }
}

Node NodeView::to_node() const {
  Node n;
  fill(n);
  return n;
}

}  // namespace wa::binary
