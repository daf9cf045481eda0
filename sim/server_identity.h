// Who wasim is to a client: the root key (persisted; clients are told to trust its public key),
// a Noise static key made fresh on every start, and the certificate chain (intermediate signed by
// the root, leaf for the static key) sent encrypted in every ServerHello.
#pragma once

#include <filesystem>
#include <string>

#include "core/crypto/x25519.h"

namespace wa::sim {

struct ServerIdentity {
  wa::crypto::KeyPair root;
  wa::crypto::KeyPair noise_static;
  std::string cert_chain;  // serialized CertChain protobuf

  // Root from the state dir (created on first start), fresh static key, chain valid from one
  // hour ago (clock skew) for 30 days.
  static ServerIdentity create(const std::filesystem::path& state_dir);
};

}  // namespace wa::sim
