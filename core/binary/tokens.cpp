#include "core/binary/tokens.h"

#include <string>
#include <unordered_map>

#include "core/binary/token_data.h"

namespace wa::binary {

struct Tokens::Impl {
  const detail::TokenTableData* data = nullptr;
  std::unordered_map<std::string_view, TokenIndex> index;  // views into the static tables
};

Tokens::Tokens(Dict dict) : impl_(std::make_unique<Impl>()) {
  impl_->data = dict == Dict::v2 ? &detail::kTokensV2 : &detail::kTokensV3;
  const auto& d = *impl_->data;
  impl_->index.reserve(236 + 4 * 256);
  // Single-byte tokens win over double-byte ones, as in both reference encoders.
  for (unsigned i = 1; i < 236; ++i) impl_->index.emplace(d.single[i], TokenIndex{-1, static_cast<std::uint8_t>(i)});
  for (int t = 0; t < 4; ++t)
    for (unsigned i = 0; i < 256; ++i)
      if (!d.dbl[t][i].empty()) impl_->index.emplace(d.dbl[t][i], TokenIndex{t, static_cast<std::uint8_t>(i)});
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
  if (s.empty()) return std::nullopt;
  const auto it = impl_->index.find(s);
  if (it == impl_->index.end()) return std::nullopt;
  return it->second;
}

std::optional<Dict> parse_dict(std::string_view s) {
  if (s == "2") return Dict::v2;
  if (s == "3") return Dict::v3;
  return std::nullopt;
}

}  // namespace wa::binary
