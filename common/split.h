// Splitting a string at one separator character, without copies (the fields view into the input).
#pragma once

#include <string_view>
#include <vector>

namespace wa {

enum class TrailingField { drop, keep };

// "" gives no fields; "a,,b" gives "a", "", "b". A separator at the very end adds an empty last
// field only with TrailingField::keep (a URL path "x/" has the segments "x" and "").
std::vector<std::string_view> split(std::string_view s, char sep,
                                    TrailingField trailing = TrailingField::drop);

}  // namespace wa
