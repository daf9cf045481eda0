// One Signal participant for tests: its own libsignal context, in-memory stores and adapter, and
// the identity-change events it heard.
#pragma once

#include <memory>
#include <vector>

#include "core/crypto/signal_context.h"
#include "core/signal/prekey_bundle.h"
#include "core/signal/protocol_store.h"
#include "tests/core_signal/memory_signal_store.h"

namespace wa::test {

struct Party {
  explicit Party(signal::Address address, MemorySignalStore s = MemorySignalStore::generate())
      : addr(std::move(address)),
        store(std::move(s)),
        proto(ctx, store.stores(), [this](const signal::IdentityChange& c) { changes.push_back(c); }) {}
  Party(const Party&) = delete;
  Party& operator=(const Party&) = delete;

  // The bundle the server would hand out for this device, with one-time pre-key `pre_key_id`
  // (0 = none).
  signal::PreKeyBundle bundle(std::uint32_t pre_key_id = 1) const {
    signal::PreKeyBundle b;
    b.registration_id = store.local.registration_id;
    b.identity = store.local.identity.pub;
    b.signed_pre_key_id = store.signed_pre_key.id;
    b.signed_pre_key = store.signed_pre_key.pair.pub;
    b.signed_pre_key_signature = store.signed_pre_key.signature;
    if (pre_key_id != 0)
      b.pre_key = signal::PreKeyBundle::OneTime{pre_key_id, store.pre_keys.at(pre_key_id).pub};
    return b;
  }

  signal::Address addr;
  crypto::SignalContext ctx;
  MemorySignalStore store;
  std::vector<signal::IdentityChange> changes;
  signal::ProtocolStore proto;
};

}  // namespace wa::test
