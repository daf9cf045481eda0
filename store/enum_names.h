// An enum's SQL names as one table, so that printing and parsing cannot drift apart.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>
#include <utility>

namespace wa::store {

template <class E, std::size_t N>
using EnumNames = std::array<std::pair<E, const char*>, N>;

// The first entry's name for a value the table lacks (cannot happen for a complete table).
template <class E, std::size_t N>
constexpr const char* enum_name(const EnumNames<E, N>& names, E v) {
  for (const auto& [e, n] : names)
    if (e == v) return n;
  return names[0].second;
}

template <class E, std::size_t N>
constexpr std::optional<E> enum_parse(const EnumNames<E, N>& names, std::string_view s) {
  for (const auto& [e, n] : names)
    if (s == n) return e;
  return std::nullopt;
}

}  // namespace wa::store
