#include "sim/root_key_store.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "common/log.h"
#include "core/crypto/bytes.h"
#include "sim/tsv_file.h"

namespace wa::sim {

wa::crypto::KeyPair load_or_create_root_key(const std::filesystem::path& state_dir) {
  std::error_code ec;
  if (std::filesystem::create_directories(state_dir, ec))
    std::filesystem::permissions(state_dir, std::filesystem::perms::owner_all, ec);
  if (ec) throw std::runtime_error("cannot create state dir " + state_dir.string() + ": " + ec.message());
  const auto file = state_dir / "root-key";

  struct stat st{};
  if (::stat(file.c_str(), &st) == 0) {
    if ((st.st_mode & 077) != 0)
      throw std::runtime_error(file.string() + " is readable by group/others; expected mode 0600");
    std::ifstream in(file);
    std::string hex;
    if (!in || !std::getline(in, hex)) throw std::runtime_error("cannot read " + file.string());
    try {
      auto kp = wa::crypto::KeyPair::from_private(wa::crypto::key32_from_hex(hex, "root private key"));
      wa::log::info("wasim_root_key_loaded").kv("file", file.string());
      return kp;
    } catch (const std::exception& e) {
      throw std::runtime_error(file.string() + ": " + e.what());
    }
  }
  auto kp = wa::crypto::KeyPair::generate();
  write_private_file(file, wa::crypto::to_hex(kp.priv) + "\n");
  wa::log::info("wasim_root_key_created").kv("file", file.string());
  return kp;
}

}  // namespace wa::sim
