#include "app/flags.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <string_view>

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "app/config_check.h"
#include "common/log.h"

namespace wa::app {

namespace {

constexpr const char* kDatabaseUrl = "database-url";
constexpr const char* kDatabaseUrlFile = "database-url-file";
constexpr const char* kDatabaseUrlEnv = "WACONN_DATABASE_URL";
constexpr const char* kDatabaseUrlFileEnv = "WACONN_DATABASE_URL_FILE";

std::optional<std::string> env(const char* name) {
  if (const char* e = std::getenv(name); e != nullptr && *e != '\0') return std::string(e);
  return std::nullopt;
}

// The URL in a --database-url-file: the whole file, without the trailing newline an editor adds.
std::string read_url_file(const std::string& path, const std::string& setting) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw ConfigError(fmt::format("{} {}: cannot read the file", setting, path));
  std::ostringstream buf;
  buf << f.rdbuf();
  std::string url = buf.str();
  while (!url.empty() && (url.back() == '\n' || url.back() == '\r' || url.back() == ' ')) url.pop_back();
  if (url.empty()) throw ConfigError(fmt::format("{} {}: the file is empty", setting, path));
  return url;
}

}  // namespace

Flags::Flags(std::string command, std::string summary, std::vector<FlagSpec> specs)
    : command_(std::move(command)), summary_(std::move(summary)), specs_(std::move(specs)) {
  // Every command with a database URL also takes it from a file (a mounted Secret): a password on
  // the command line is visible to every user in ps and /proc/*/cmdline.
  for (std::size_t i = 0; i < specs_.size(); ++i) {
    if (specs_[i].name != kDatabaseUrl) continue;
    specs_[i].help += fmt::format(" [also env {}]", kDatabaseUrlEnv);
    specs_.insert(specs_.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                  FlagSpec{kDatabaseUrlFile, kDatabaseUrlFileEnv,
                           "file holding the PostgreSQL URL (keeps a password out of ps and /proc/*/cmdline; "
                           "or leave the password out and let libpq read PGPASSFILE)",
                           ""});
    break;
  }
}

const FlagSpec& Flags::spec(const std::string& name) const {
  for (const auto& s : specs_)
    if (s.name == name) return s;
  throw std::logic_error("undeclared flag " + name);
}

bool Flags::parse(int argc, char** argv) {
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << help_text();
      return false;
    }
    if (a.rfind("--", 0) != 0) {
      positional_.push_back(a);
      continue;
    }
    std::string name = a.substr(2);
    std::optional<std::string> value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const FlagSpec* s = nullptr;
    for (const auto& sp : specs_)
      if (sp.name == name) s = &sp;
    if (s == nullptr) throw ConfigError(fmt::format("unknown flag --{} (see {} --help)", name, command_));
    if (!value) {
      if (s->is_bool) {
        value = "true";
      } else if (i + 1 < argc && std::string_view(argv[i + 1]).rfind("--", 0) != 0) {
        // A following "--flag" is a forgotten value, not the value (use --name=--x for that).
        value = argv[++i];
      } else {
        throw ConfigError(fmt::format("--{} needs a value", name));
      }
    }
    values_[name] = *value;
  }
  if (auto it = values_.find(kDatabaseUrl); it != values_.end()) {
    if (auto pw = database_url_passwords(it->second); !pw.empty()) {
      register_secret(pw.front());
      wa::log::warn("database_password_on_command_line")
          .kv("hint", "every local user can read it in ps and /proc/*/cmdline: use --database-url-file, "
                      "WACONN_DATABASE_URL / DATABASE_URL or PGPASSFILE");
    }
  }
  for (const auto& s : specs_) {
    if (s.required && !get(s.name))
      throw ConfigError(fmt::format("--{}{} is required{}", s.name, s.env.empty() ? "" : " (or " + s.env + ")",
                                    s.name == kDatabaseUrl ? " (or --database-url-file)" : ""));
  }
  return true;
}

std::optional<std::string> Flags::get(const std::string& name) const {
  if (name == kDatabaseUrl) {
    auto url = database_url();
    if (url)
      for (const auto& p : database_url_passwords(*url)) register_secret(p);
    return url;
  }
  return lookup(name);
}

// Command line (the URL, then its file), then the environment (file, WACONN_DATABASE_URL, the
// command's own variable).
std::optional<std::string> Flags::database_url() const {
  if (auto it = values_.find(kDatabaseUrl); it != values_.end()) return it->second;
  if (auto it = values_.find(kDatabaseUrlFile); it != values_.end())
    return read_url_file(it->second, "--database-url-file");
  if (auto f = env(kDatabaseUrlFileEnv)) return read_url_file(*f, kDatabaseUrlFileEnv);
  if (auto u = env(kDatabaseUrlEnv)) return u;
  return lookup(kDatabaseUrl);
}

std::optional<std::string> Flags::lookup(const std::string& name) const {
  const auto& s = spec(name);
  if (auto it = values_.find(name); it != values_.end()) return it->second;
  if (!s.env.empty()) {
    if (const char* e = std::getenv(s.env.c_str()); e != nullptr && *e != '\0') return std::string(e);
  }
  if (!s.default_value.empty()) return s.default_value;
  return std::nullopt;
}

std::string Flags::str(const std::string& name) const {
  auto v = get(name);
  if (!v) {
    const auto& s = spec(name);
    throw ConfigError(fmt::format("--{}{} is required", name, s.env.empty() ? "" : " (or " + s.env + ")"));
  }
  return *v;
}

std::int64_t Flags::integer(const std::string& name, std::int64_t min, std::int64_t max) const {
  const auto v = str(name);
  std::size_t pos = 0;
  std::int64_t n = 0;
  try {
    n = std::stoll(v, &pos);
  } catch (const std::exception&) {
    pos = 0;
  }
  if (pos != v.size() || v.empty())
    throw ConfigError(fmt::format("--{}: '{}' is not an integer", name, v));
  if (n < min || n > max) throw ConfigError(fmt::format("--{}: {} is outside {}..{}", name, n, min, max));
  return n;
}

bool Flags::boolean(const std::string& name) const {
  const auto v = get(name);
  if (!v) return false;
  if (*v == "true" || *v == "1" || *v == "yes" || *v == "on") return true;
  if (*v == "false" || *v == "0" || *v == "no" || *v == "off") return false;
  throw ConfigError(fmt::format("--{}: '{}' is not a boolean (true/false)", name, *v));
}

std::chrono::milliseconds Flags::duration(const std::string& name) const {
  const auto v = str(name);
  std::size_t pos = 0;
  double n = 0;
  try {
    n = std::stod(v, &pos);
  } catch (const std::exception&) {
    throw ConfigError(fmt::format("--{}: '{}' is not a duration (e.g. 500ms, 5s, 2m)", name, v));
  }
  const std::string unit = v.substr(pos);
  double ms = 0;
  if (unit.empty() || unit == "s") {
    ms = n * 1000;
  } else if (unit == "ms") {
    ms = n;
  } else if (unit == "m") {
    ms = n * 60000;
  } else {
    throw ConfigError(fmt::format("--{}: '{}' is not a duration (e.g. 500ms, 5s, 2m)", name, v));
  }
  if (ms < 0) throw ConfigError(fmt::format("--{}: '{}' must not be negative", name, v));
  // "inf", "nan" and huge values would overflow the cast below (undefined behaviour).
  if (!std::isfinite(ms) || ms > 1e15 || !std::isdigit(static_cast<unsigned char>(v.front())))
    throw ConfigError(fmt::format("--{}: '{}' is not a duration (e.g. 500ms, 5s, 2m)", name, v));
  return std::chrono::milliseconds(static_cast<std::int64_t>(ms));
}

std::pair<std::string, int> Flags::host_port(const std::string& name) const {
  const auto v = str(name);
  const auto colon = v.rfind(':');
  if (colon == std::string::npos) throw ConfigError(fmt::format("--{}: '{}' is not HOST:PORT", name, v));
  std::string host = v.substr(0, colon);
  const std::string port_s = v.substr(colon + 1);
  // Digits only: stoi alone would accept " 80" and "+80".
  int port = -1;
  if (!port_s.empty() && port_s.size() <= 5 &&
      port_s.find_first_not_of("0123456789") == std::string::npos)
    port = std::stoi(port_s);
  if (port < 0 || port > 65535)
    throw ConfigError(fmt::format("--{}: '{}' has no valid port (0-65535)", name, v));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  return {host, port};
}

std::string Flags::help_text() const {
  std::string out = fmt::format("usage: {} [flags]\n\n{}\n\nflags:\n", command_, summary_);
  for (const auto& s : specs_) {
    out += fmt::format("  --{}{}\n      {}", s.name, s.is_bool ? "" : " VALUE", s.help);
    if (!s.env.empty()) out += fmt::format(" [env {}]", s.env);
    if (!s.default_value.empty()) out += fmt::format(" (default {})", s.default_value);
    if (s.required) out += " (required)";
    out += "\n";
  }
  return out;
}

}  // namespace wa::app
