// Raw token tables, generated at build time from data/tokens/ (see tools/gen_tokens.cpp).
// Use tokens.h for lookups; this header only describes the generated arrays.
#pragma once

#include <string_view>

namespace wa::binary::detail {

struct TokenTableData {
  std::string_view single[236];     // index 0 is the unused empty string
  std::string_view dbl[4][256];     // double-byte dictionaries 0..3
};

extern const TokenTableData kTokensV2;
extern const TokenTableData kTokensV3;

}  // namespace wa::binary::detail
