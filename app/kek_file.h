// Where `run` and `keys` get the key-encryption key (docs/security.md): --kek-file /
// WACONN_KEK_FILE; without it, outside Kubernetes, a KEK file generated on first use in the
// user's state directory (the local demo); inside Kubernetes (KUBERNETES_SERVICE_HOST set) the
// setting is required, since a generated file would differ per pod and vanish with it.
#pragma once

#include <memory>
#include <string>

#include "app/flags.h"
#include "store/sealing.h"

namespace wa::app {

FlagSpec kek_file_flag();

// The KEK ring of the command's --kek-file (or the generated local file). Throws ConfigError
// naming the setting when it is missing, unreadable or malformed.
store::KekRing load_kek_ring(const Flags& flags);

// The path of the generated local KEK file: $XDG_STATE_HOME/waconnector/kek, else
// $HOME/.local/state/waconnector/kek. Empty when neither variable is set.
std::string local_kek_path();

}  // namespace wa::app
