// The decryption callback shared by the 1:1 and group ciphers (internal to core/signal): it hands the
// plaintext to the caller's PlaintextHook and turns an exception into a callback failure.
#pragma once

#include <signal_protocol.h>

#include "core/signal/protocol_store.h"
#include "core/signal/session_cipher.h"

namespace wa::signal {

struct HookContext {
  ProtocolStore* store;
  const PlaintextHook* hook;
};

// Runs the hook in `decrypt_context` (a HookContext*); an exception is stashed on the store and
// reported to the library as a callback failure, which the store's run() rethrows.
inline int run_plaintext_hook(signal_buffer* plaintext, void* decrypt_context) {
  auto* hc = static_cast<HookContext*>(decrypt_context);
  if (!hc || !hc->hook || !*hc->hook) return SG_SUCCESS;
  try {
    (*hc->hook)(ByteView(signal_buffer_data(plaintext), signal_buffer_len(plaintext)));
    return SG_SUCCESS;
  } catch (...) {
    hc->store->stash_current_exception();
    return kStoreCallbackFailed;
  }
}

}  // namespace wa::signal
