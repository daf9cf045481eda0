// JSON-lines logging. One line per event on stderr, so that container runtimes and log
// shippers can parse it without configuration. Never log secrets, key material or message
// bodies; mask phone numbers with wa::mask_jid()/mask_phone() before passing them here.
#pragma once

#include <cstdint>
#include <exception>
#include <string>
#include <string_view>

#include "common/json_string.h"

namespace wa::log {

enum class Level { debug, info, warn, error };

// Sets the minimum level that is written (default: info, or WACONN_LOG_LEVEL).
void set_level(Level level);
Level level();
// Every line carries these (e.g. pod name); set once at start.
void set_static_field(std::string_view key, std::string_view value);

// Builds one log line; writes it when destroyed.
//   wa::log::Line(Level::info, "lock_acquired").kv("business_id", id).kv("epoch", epoch);
class Line {
 public:
  Line(Level level, std::string_view event);
  Line(const Line&) = delete;
  Line& operator=(const Line&) = delete;
  ~Line();

  Line& kv(std::string_view key, std::string_view value);
  Line& kv(std::string_view key, const std::string& value) { return kv(key, std::string_view(value)); }
  Line& kv(std::string_view key, const char* value) { return kv(key, std::string_view(value)); }
  Line& kv(std::string_view key, std::int64_t value);
  Line& kv(std::string_view key, int value) { return kv(key, static_cast<std::int64_t>(value)); }
  Line& kv(std::string_view key, unsigned value) { return kv(key, static_cast<std::int64_t>(value)); }
  Line& kv(std::string_view key, long long value) { return kv(key, static_cast<std::int64_t>(value)); }
  Line& kv(std::string_view key, unsigned long value) { return kv(key, static_cast<std::int64_t>(value)); }
  Line& kv(std::string_view key, double value);
  Line& kv(std::string_view key, bool value);

 private:
  bool enabled_;
  std::string buf_;
};

inline Line debug(std::string_view event) { return Line(Level::debug, event); }
inline Line info(std::string_view event) { return Line(Level::info, event); }
inline Line warn(std::string_view event) { return Line(Level::warn, event); }
inline Line error(std::string_view event) { return Line(Level::error, event); }

using wa::append_json_string;  // common/json_string.h

// The message of the exception `e` holds ("unknown error" for a non-std exception), for logs.
std::string what(std::exception_ptr e);

}  // namespace wa::log
