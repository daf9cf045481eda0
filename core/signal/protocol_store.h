// Bridges libsignal-protocol-c's store callbacks to the role interfaces of signal_stores.h, for one
// account. Owns the library's signal_protocol_store_context.
//
// Exceptions never cross the C boundary: a callback that throws stashes the exception and returns
// an application error code; run() then rethrows that very exception (client::StoreFenced stays
// StoreFenced), so a store failure is never mistaken for a protocol error or swallowed.
//
// Identity changes of contacts are accepted (whatsmeow AutoTrustIdentity) and reported to the
// handler once the libsignal operation that saw them has completed.
//
// Not thread-safe: one ProtocolStore per account, used from the account's client thread. Give
// each account its own SignalContext: libsignal holds the context's lock while store callbacks run
// (database I/O), so a shared context would serialize all accounts.
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/crypto/signal_context.h"
#include "core/signal/signal_error.h"
#include "core/signal/signal_stores.h"

extern "C" {
struct signal_protocol_store_context;
struct signal_protocol_address;
struct signal_protocol_sender_key_name;
}

namespace wa::signal {

// An application error code returned by callbacks that threw (below SG_ERR_MINIMUM, as the
// library asks of application codes).
inline constexpr int kStoreCallbackFailed = -10000;

using IdentityChangeHandler = std::function<void(const IdentityChange&)>;

class ProtocolStore {
 public:
  ProtocolStore(crypto::SignalContext& context, SignalStores stores,
                IdentityChangeHandler on_identity_change = {});
  ~ProtocolStore();
  ProtocolStore(const ProtocolStore&) = delete;
  ProtocolStore& operator=(const ProtocolStore&) = delete;

  signal_protocol_store_context* get() const { return store_; }
  signal_context* context() const { return context_.get(); }
  const SignalStores& stores() const { return stores_; }

  // Runs one libsignal call. Rethrows an exception stashed by a callback during the call; else
  // throws SignalError naming `what` when rc < 0; else reports pending identity changes and
  // returns rc.
  template <class F>
  int run(std::string_view what, F&& call) {
    begin_call();
    int rc = call();
    return end_call(rc, what);
  }

  // run() for deserializing outside bytes: any failure but out-of-memory is invalid_message
  // (libsignal reports short input as SG_ERR_INVAL, bad protobuf as SG_ERR_INVALID_PROTO_BUF, ...).
  template <class F>
  int parse(std::string_view what, F&& call) {
    begin_call();
    int rc = call();
    if (rc < 0 && rc != kOutOfMemory && !pending_) throw_malformed(rc, what);
    return end_call(rc, what);
  }

  // For callbacks (store and decryption callbacks): remember the exception being handled.
  void stash_current_exception();

 private:
  friend struct StoreCallbacks;
  static constexpr int kOutOfMemory = -12;  // SG_ERR_NOMEM
  [[noreturn]] static void throw_malformed(int rc, std::string_view what);
  void begin_call();
  int end_call(int rc, std::string_view what);

  crypto::SignalContext& context_;
  SignalStores stores_;
  IdentityChangeHandler on_identity_change_;
  signal_protocol_store_context* store_ = nullptr;
  std::exception_ptr pending_;
  std::vector<IdentityChange> changes_;
};

// A signal_protocol_address with storage for its name; libsignal keeps the pointer (not a copy)
// inside ciphers and builders, so this must outlive them.
class LscAddress {
 public:
  explicit LscAddress(const Address& a);
  LscAddress(const LscAddress&) = delete;
  LscAddress& operator=(const LscAddress&) = delete;
  ~LscAddress();
  const signal_protocol_address* get() const { return raw_.get(); }

 private:
  std::string name_;
  std::unique_ptr<signal_protocol_address> raw_;
};

// The same for a sender key name: the group's name, and the sender as an LscAddress (its name
// storage; the library's struct holds a copy of the address that points into it).
class LscSenderKeyName {
 public:
  explicit LscSenderKeyName(const SenderKeyName& n);
  LscSenderKeyName(const LscSenderKeyName&) = delete;
  LscSenderKeyName& operator=(const LscSenderKeyName&) = delete;
  ~LscSenderKeyName();
  const signal_protocol_sender_key_name* get() const { return raw_.get(); }

 private:
  std::string group_;
  LscAddress sender_;
  std::unique_ptr<signal_protocol_sender_key_name> raw_;
};

Address from_lsc(const signal_protocol_address& a);

}  // namespace wa::signal
