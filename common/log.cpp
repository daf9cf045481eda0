#include "common/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <vector>

#include <fmt/format.h>

namespace wa::log {
namespace {

Level initial_level() {
  const char* env = std::getenv("WACONN_LOG_LEVEL");
  if (env == nullptr) return Level::info;
  std::string_view v(env);
  if (v == "debug") return Level::debug;
  if (v == "warn") return Level::warn;
  if (v == "error") return Level::error;
  return Level::info;
}

std::atomic<int> g_level{static_cast<int>(initial_level())};
std::mutex g_mu;
std::string g_static;  // pre-rendered ,"k":"v" pairs

const char* level_name(Level l) {
  switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "info";
}

}  // namespace

void set_level(Level level) { g_level.store(static_cast<int>(level)); }
Level level() { return static_cast<Level>(g_level.load()); }

void set_static_field(std::string_view key, std::string_view value) {
  std::lock_guard lk(g_mu);
  g_static += ',';
  append_json_string(g_static, key);
  g_static += ':';
  append_json_string(g_static, value);
}

std::string what(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "unknown error";
  }
}

Line::Line(Level lvl, std::string_view event) : enabled_(static_cast<int>(lvl) >= g_level.load()) {
  if (!enabled_) return;
  using namespace std::chrono;
  const auto now = system_clock::now();
  const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  buf_ = fmt::format(R"({{"ts":"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z","level":"{}","event":)",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ms % 1000, level_name(lvl));
  append_json_string(buf_, event);
}

Line::~Line() {
  if (!enabled_) return;
  std::lock_guard lk(g_mu);
  buf_ += g_static;
  buf_ += "}\n";
  std::fwrite(buf_.data(), 1, buf_.size(), stderr);
  std::fflush(stderr);
}

Line& Line::kv(std::string_view key, std::string_view value) {
  if (!enabled_) return *this;
  buf_ += ',';
  append_json_string(buf_, key);
  buf_ += ':';
  append_json_string(buf_, value);
  return *this;
}

Line& Line::kv(std::string_view key, std::int64_t value) {
  if (!enabled_) return *this;
  buf_ += ',';
  append_json_string(buf_, key);
  buf_ += fmt::format(":{}", value);
  return *this;
}

Line& Line::kv(std::string_view key, double value) {
  if (!enabled_) return *this;
  buf_ += ',';
  append_json_string(buf_, key);
  buf_ += fmt::format(":{:.6g}", value);
  return *this;
}

Line& Line::kv(std::string_view key, bool value) {
  if (!enabled_) return *this;
  buf_ += ',';
  append_json_string(buf_, key);
  buf_ += value ? ":true" : ":false";
  return *this;
}

}  // namespace wa::log
