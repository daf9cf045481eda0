// Pre-key bundle fetch (e2e reference §2.4) before the first message to a device: which devices
// need one, the <iq xmlns="encrypt"><key><user jid reason="identity"/>…</key></iq> request, and
// building the sessions from the answer (X3DH in core/signal/prekey_bundle).
#pragma once

#include <string>
#include <vector>

#include "core/binary/node.h"
#include "core/signal/prekey_bundle.h"
#include "core/signal/protocol_store.h"

namespace wa::client {

inline constexpr std::size_t kMaxBundleFetch = signal::kMaxBundles;  // devices per request

// Devices of `devices` we share no Signal session with.
std::vector<binary::Jid> devices_without_session(signal::ProtocolStore& store,
                                                 const std::vector<binary::Jid>& devices);

// Throws std::invalid_argument for an empty or too long list.
binary::Node bundle_request(const std::string& id, const std::vector<binary::Jid>& devices);

struct BundleOutcome {
  std::vector<binary::Jid> ready;                              // a session was built
  std::vector<std::pair<binary::Jid, std::string>> failed;     // device and why
};

// Builds a session for each <user> of the answer that carries a bundle. A device whose bundle is
// missing, malformed or does not verify is reported in `failed` (it cannot be written to). Store
// exceptions (StoreFenced) propagate. Throws signal::BundleError for a malformed iq.
BundleOutcome apply_bundles(signal::ProtocolStore& store, const binary::Node& iq);

}  // namespace wa::client
