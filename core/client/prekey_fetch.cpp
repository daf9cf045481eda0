#include "core/client/prekey_fetch.h"

#include <stdexcept>

#include "core/client/stanzas.h"
#include "core/signal/prekey_bundle.h"
#include "core/signal/session_cipher.h"

namespace wa::client {

using binary::Jid;
using binary::Node;
using binary::NodeList;

std::vector<Jid> devices_without_session(signal::ProtocolStore& store, const std::vector<Jid>& devices) {
  std::vector<Jid> out;
  for (const auto& d : devices)
    if (!signal::has_session(store, signal::Address::from_jid(d))) out.push_back(d);
  return out;
}

Node bundle_request(const std::string& id, const std::vector<Jid>& devices) {
  if (devices.empty() || devices.size() > kMaxBundleFetch)
    throw std::invalid_argument("bundle fetch: 1-1024 devices");
  NodeList users;
  users.reserve(devices.size());
  for (const auto& d : devices) users.push_back(Node{"user", {{"jid", d}, {"reason", std::string("identity")}}, {}});
  return iq(id, "get", "encrypt", {Node{"key", {}, std::move(users)}});
}

BundleOutcome apply_bundles(signal::ProtocolStore& store, const Node& iq_node) {
  BundleOutcome out;
  for (auto& f : signal::parse_bundle_response(iq_node)) {
    if (!f.bundle) {
      out.failed.emplace_back(f.jid, f.error);
      continue;
    }
    try {
      signal::process_bundle(store, signal::Address::from_jid(f.jid), *f.bundle);
      out.ready.push_back(f.jid);
    } catch (const signal::SignalError& e) {
      out.failed.emplace_back(f.jid, e.what());
    }
  }
  return out;
}

}  // namespace wa::client
