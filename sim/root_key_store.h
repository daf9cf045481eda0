// wasim's certificate root: an X25519/XEdDSA key pair made on first start and kept in the state
// dir (root-key, 0600, the private key as hex), so clients that trust its public key keep
// trusting wasim across restarts. It stands in for WhatsApp's production root key.
#pragma once

#include <filesystem>

#include "core/crypto/x25519.h"

namespace wa::sim {

// Loads <state_dir>/root-key, or generates and saves it when absent. Creates state_dir (0700)
// if needed. Throws std::runtime_error naming the file when it exists but is unreadable or
// malformed, or when its permissions let anyone but the owner read it.
wa::crypto::KeyPair load_or_create_root_key(const std::filesystem::path& state_dir);

}  // namespace wa::sim
