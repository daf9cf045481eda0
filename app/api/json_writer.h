// Building the API's JSON answers: one object at a time, keys in the order written.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/json_string.h"

namespace wa::app::api {

class JsonObject {
 public:
  JsonObject& str(std::string_view key, std::string_view v) {
    this->key(key);
    append_json_string(out_, v);
    return *this;
  }
  JsonObject& opt_str(std::string_view key, const std::optional<std::string>& v) {
    return v ? str(key, std::string_view(*v)) : null(key);
  }
  JsonObject& num(std::string_view key, std::int64_t v) {
    this->key(key);
    out_ += std::to_string(v);
    return *this;
  }
  JsonObject& opt_num(std::string_view key, const std::optional<std::int64_t>& v) {
    return v ? num(key, *v) : null(key);
  }
  JsonObject& boolean(std::string_view key, bool v) {
    this->key(key);
    out_ += v ? "true" : "false";
    return *this;
  }
  JsonObject& null(std::string_view key) {
    this->key(key);
    out_ += "null";
    return *this;
  }
  // `json` must already be valid JSON text (an object or array built elsewhere).
  JsonObject& raw(std::string_view key, std::string_view json) {
    this->key(key);
    out_ += json;
    return *this;
  }
  std::string done() const { return out_ + "}"; }

 private:
  void key(std::string_view k) {
    if (out_.size() > 1) out_ += ',';
    append_json_string(out_, k);
    out_ += ':';
  }
  std::string out_ = "{";
};

}  // namespace wa::app::api
