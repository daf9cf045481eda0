#include "app/kek_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "common/log.h"

namespace wa::app {

FlagSpec kek_file_flag() {
  return {
      "kek-file", "WACONN_KEK_FILE",
      "file of key-encryption keys that seal the key material in the database (first line wraps; "
      "docs/security.md). Unset outside Kubernetes: a generated local file (" +
          (local_kek_path().empty() ? std::string("$HOME/.local/state/waconnector/kek") : local_kek_path()) +
          ")",
      ""};
}

std::string local_kek_path() {
  if (const char* x = std::getenv("XDG_STATE_HOME"); x != nullptr && *x == '/')
    return std::string(x) + "/waconnector/kek";
  if (const char* h = std::getenv("HOME"); h != nullptr && *h == '/')
    return std::string(h) + "/.local/state/waconnector/kek";
  return {};
}

namespace {

// mkdir -p with mode 0700 for the directories it creates.
void make_dirs(const std::string& dir) {
  for (std::size_t pos = 1; pos != std::string::npos;) {
    pos = dir.find('/', pos + 1);
    const std::string part = dir.substr(0, pos);
    if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST)
      throw ConfigError(fmt::format("{}: cannot create {} for the generated local KEK file: {}",
                                    store::kKekSetting, part, std::strerror(errno)));
  }
}

}  // namespace

store::KekRing load_kek_ring(const Flags& flags) {
  try {
    if (auto path = flags.get("kek-file")) return store::KekRing::load_file(*path);
    if (std::getenv("KUBERNETES_SERVICE_HOST") != nullptr)
      throw ConfigError(fmt::format(
          "{} is required in Kubernetes: mount a Secret holding the key-encryption key (docs/security.md); "
          "a generated key would differ per pod and vanish with it",
          store::kKekSetting));
    const auto path = local_kek_path();
    if (path.empty())
      throw ConfigError(
          fmt::format("{} is not set and neither XDG_STATE_HOME nor HOME names a directory for a "
                      "generated local KEK file",
                      store::kKekSetting));
    make_dirs(path.substr(0, path.rfind('/')));
    auto ring = store::KekRing::load_or_create_file(path);
    log::warn("kek_file_local").kv("path", path).kv("hint", "production: set --kek-file (docs/security.md)");
    return ring;
  } catch (const store::SealingError& e) {
    throw ConfigError(e.what());
  }
}

}  // namespace wa::app
