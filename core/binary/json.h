// A minimal JSON reader/writer for the node JSON form and CLI input. Objects keep member order
// (attribute order matters on the wire). Input is untrusted: size, depth and item count are
// capped, and every error names the offset.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/json_string.h"

namespace wa::binary {

using JsonError = wa::Error<struct JsonErrorTag>;

struct JsonMember;

struct Json {
  enum class Type { null, boolean, number, string, array, object };
  Type type = Type::null;
  bool boolean = false;
  std::string text;  // a string's value, or a number as written
  std::vector<Json> items;                             // array
  std::vector<JsonMember> members;  // object, in input order

  // First member with this key, or nullptr (also for non-objects).
  const Json* find(std::string_view key) const;
};

// A named struct rather than std::pair: pair<string, Json> inside Json trips clang's
// completeness checks.
struct JsonMember {
  std::string key;
  Json value;
};

const char* to_string(Json::Type t);

struct JsonLimits {
  std::size_t max_size = 64u << 20;  // bytes of text
  std::size_t max_depth = 200;      // a node nested 64 deep prints ~130 levels deep
  std::size_t max_items = 1'000'000; // values in the document (~90 MB at most)
};

// Parses one JSON document (whitespace around it allowed, nothing else).
Json parse_json(std::string_view text, const JsonLimits& limits = {});

using wa::append_json_string;  // common/json_string.h

}  // namespace wa::binary
