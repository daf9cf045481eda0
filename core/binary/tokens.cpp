#include "core/binary/tokens.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "core/binary/token_data.h"

namespace wa::binary {

namespace {

// Every string the encoder writes is looked up here, so the hash reads 8 bytes at a time instead
// of std::hash's byte loop.
inline std::uint64_t mix(std::uint64_t h, std::uint64_t w) {
  h = (h ^ w) * 0xC4CEB9FE1A85EC53ULL;
  return h ^ (h >> 29);
}

inline std::uint64_t load(const char* p, std::size_t n) {
  std::uint64_t w = 0;
  std::memcpy(&w, p, n);
  return w;
}

// Short strings (most tokens) read as two overlapping loads instead of a byte loop.
inline std::size_t hash(std::string_view s) {
  std::uint64_t h = 0x9E3779B97F4A7C15ULL ^ (s.size() * 0xFF51AFD7ED558CCDULL);
  const char* p = s.data();
  const std::size_t n = s.size();
  if (n >= 8) {
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) h = mix(h, load(p + i, 8));
    if (i < n) h = mix(h, load(p + n - 8, 8));  // the last 8 bytes, overlapping
  } else if (n >= 4) {
    h = mix(h, load(p, 4) | (load(p + n - 4, 4) << 32));
  } else if (n > 0) {
    const auto b = [p](std::size_t i) { return std::uint64_t(static_cast<unsigned char>(p[i])); };
    h = mix(h, b(0) | (b(n / 2) << 8) | (b(n - 1) << 16));
  }
  return static_cast<std::size_t>((h * 0x9E3779B97F4A7C15ULL) >> 52);  // top 12 bits mix every byte
}

// Open addressing at load < 1/3 over 2^12 slots of 16-bit entry numbers (8 KiB, stays in L1), so
// a miss (ids, numbers) usually ends at the first empty slot without touching a string.
constexpr std::size_t kSlots = 4096;

struct Entry {
  std::string_view key;  // views into the static tables
  TokenIndex index;
};

}  // namespace

struct Tokens::Impl {
  const detail::TokenTableData* data = nullptr;
  std::uint16_t slots[kSlots] = {};  // 0 = free, else entries[slot - 1]
  std::vector<Entry> entries;
  std::size_t max_len = 0;

  // Keeps the first entry for a string: single-byte tokens are added first and win over
  // double-byte ones, as in both reference encoders.
  void add(std::string_view s, TokenIndex idx) {
    if (s.empty()) return;
    for (std::size_t i = hash(s);; i = (i + 1) & (kSlots - 1)) {
      if (slots[i] == 0) {
        entries.push_back(Entry{s, idx});
        slots[i] = static_cast<std::uint16_t>(entries.size());
        max_len = std::max(max_len, s.size());
        return;
      }
      if (entries[slots[i] - 1].key == s) return;
    }
  }
};

Tokens::Tokens(Dict dict) : impl_(std::make_unique<Impl>()) {
  impl_->data = dict == Dict::v2 ? &detail::kTokensV2 : &detail::kTokensV3;
  const auto& d = *impl_->data;
  impl_->entries.reserve(236 + 4 * 256);
  for (unsigned i = 1; i < 236; ++i) impl_->add(d.single[i], TokenIndex{-1, static_cast<std::uint8_t>(i)});
  for (int t = 0; t < 4; ++t)
    for (unsigned i = 0; i < 256; ++i) impl_->add(d.dbl[t][i], TokenIndex{t, static_cast<std::uint8_t>(i)});
}

Tokens::~Tokens() = default;

const Tokens& Tokens::get(Dict dict) {
  static const Tokens v2(Dict::v2);
  static const Tokens v3(Dict::v3);
  return dict == Dict::v2 ? v2 : v3;
}

std::optional<std::string_view> Tokens::single(std::uint8_t index) const {
  if (index == 0 || index >= 236) return std::nullopt;
  return impl_->data->single[index];
}

std::optional<std::string_view> Tokens::double_byte(unsigned dict, std::uint8_t index) const {
  if (dict > 3) return std::nullopt;
  return impl_->data->dbl[dict][index];
}

std::optional<TokenIndex> Tokens::find(std::string_view s) const {
  if (s.empty() || s.size() > impl_->max_len) return std::nullopt;
  const Impl& im = *impl_;
  for (std::size_t i = hash(s);; i = (i + 1) & (kSlots - 1)) {
    const std::uint16_t e = im.slots[i];
    if (e == 0) return std::nullopt;
    if (im.entries[e - 1].key == s) return im.entries[e - 1].index;
  }
}

std::optional<Dict> parse_dict(std::string_view s) {
  if (s == "2") return Dict::v2;
  if (s == "3") return Dict::v3;
  return std::nullopt;
}

}  // namespace wa::binary
