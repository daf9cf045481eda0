// Command-line flags with environment-variable equivalents. Each command declares its flags
// once; the same table drives parsing, --help and the "bad configuration" errors (one line that
// names the setting, exit code 2).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace wa::app {

// Thrown for bad configuration; main() prints "waconnector: <message>" and exits 2.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct FlagSpec {
  std::string name;        // without the leading "--", e.g. "database-url"
  std::string env;         // e.g. "DATABASE_URL"; empty for none
  std::string help;
  std::string default_value;  // shown in --help; empty = no default
  bool is_bool = false;    // a switch: "--name" alone means true
  bool required = false;
};

class Flags {
 public:
  Flags(std::string command, std::string summary, std::vector<FlagSpec> specs);

  // Parses argv (after the subcommand words). Returns false when --help was given (help was
  // printed to stdout). Throws ConfigError on unknown flags or missing values.
  bool parse(int argc, char** argv);

  // Value from the command line, else the environment, else the default. Empty optional if none.
  // "database-url" also comes from --database-url-file / WACONN_DATABASE_URL_FILE (a file) or
  // WACONN_DATABASE_URL, and its password is registered with redact_secrets(); a password given
  // on the command line is warned about (ps shows it to everyone).
  std::optional<std::string> get(const std::string& name) const;
  std::string str(const std::string& name) const;  // required: throws ConfigError if missing
  std::int64_t integer(const std::string& name, std::int64_t min, std::int64_t max) const;
  bool boolean(const std::string& name) const;
  // Durations: "500ms", "5s", "2m", or a plain number of seconds.
  std::chrono::milliseconds duration(const std::string& name) const;
  // "host:port" with a numeric port; throws ConfigError otherwise.
  std::pair<std::string, int> host_port(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }

  std::string help_text() const;

 private:
  const FlagSpec& spec(const std::string& name) const;
  std::optional<std::string> lookup(const std::string& name) const;
  std::optional<std::string> database_url() const;
  std::string command_;
  std::string summary_;
  std::vector<FlagSpec> specs_;
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

}  // namespace wa::app
