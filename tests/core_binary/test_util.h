// Shared helpers for the binary-node tests.
#pragma once

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "core/binary/json.h"

namespace wa::binary::test {

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// binary-vectors.json (copied from the shared reference; made by Baileys 6.17.16).
inline const Json& vectors() {
  static const Json doc = parse_json(read_file(WACONN_BINARY_TEST_DATA "/binary-vectors.json"));
  const Json* v = doc.find("vectors");
  if (v == nullptr || v->type != Json::Type::array) throw std::runtime_error("binary-vectors.json has no vectors");
  return *v;
}

}  // namespace wa::binary::test
