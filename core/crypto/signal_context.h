// RAII signal_context (libsignal-protocol-c) with an OpenSSL 3 crypto provider and recursive
// locking, so the library may be used from several threads.
#pragma once

#include <memory>
#include <mutex>

extern "C" {
struct signal_context;
}

namespace wa::crypto {

class SignalContext {
 public:
  SignalContext();
  ~SignalContext();
  SignalContext(const SignalContext&) = delete;
  SignalContext& operator=(const SignalContext&) = delete;

  signal_context* get() const { return ctx_; }

  // One context for the whole process (created on first use), for callers that need no
  // stores of their own (XEdDSA signing, key generation).
  static SignalContext& shared();

 private:
  // Must be recursive: the library re-enters its lock.
  std::recursive_mutex mutex_;
  signal_context* ctx_ = nullptr;
  friend struct SignalContextCallbacks;
};

}  // namespace wa::crypto
