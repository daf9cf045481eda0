// A flat JSON object written member by member (CLI output, small answers), so callers place no
// commas and write no null by hand.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/json_string.h"

namespace wa {

class JsonObject {
 public:
  // A string member; null when v is unset.
  JsonObject& add(std::string_view key, const std::optional<std::string>& v) {
    if (!v) return null_member(key);
    append_json_string(begin_member(key), *v);
    return *this;
  }
  // A number member; null when v is unset.
  JsonObject& add(std::string_view key, const std::optional<std::int64_t>& v) {
    if (!v) return null_member(key);
    begin_member(key) += std::to_string(*v);
    return *this;
  }
  // The object's text, closed.
  std::string str() const { return text_ + '}'; }

 private:
  std::string& begin_member(std::string_view key) {
    if (text_.size() > 1) text_ += ',';
    append_json_string(text_, key);
    text_ += ':';
    return text_;
  }
  JsonObject& null_member(std::string_view key) {
    begin_member(key) += "null";
    return *this;
  }

  std::string text_ = "{";
};

}  // namespace wa
