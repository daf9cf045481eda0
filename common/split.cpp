#include "common/split.h"

namespace wa {

std::vector<std::string_view> split(std::string_view s, char sep, TrailingField trailing) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    const auto at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) break;
    s.remove_prefix(at + 1);
    if (s.empty() && trailing == TrailingField::keep) out.emplace_back();
  }
  return out;
}

}  // namespace wa
