// Checks promtool's linter does not: no series appears twice, and every histogram series has
// its +Inf bucket, _sum and _count, cumulative buckets and +Inf == _count.
#pragma once

#include <string>
#include <vector>

namespace wa::test {

// Returns one message per problem; empty when the exposition text is sound.
std::vector<std::string> check_exposition(const std::string& text);

}  // namespace wa::test
