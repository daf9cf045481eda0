// Starts and stops the WhatsApp connection of each account this pod leads, together with the
// account's store write permit. stop() is what fencing calls: it must act at once and never block
// on the network or the database, and it may be called from the fence-guard thread while the
// elector's thread is busy, so everything here is behind one mutex.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "core/connection.h"
#include "store/fenced_write.h"

namespace wa::ha {

class Supervisor {
 public:
  // `factory` may be null: no WhatsApp transport is built yet, and the pod only leads.
  explicit Supervisor(core::ConnectionFactory* factory) : factory_(factory) {}
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  bool has_transport() const { return factory_ != nullptr; }

  // Registers the lease and starts the account's connection (if a factory exists). Returns the
  // write fence the account's writes must go through. The fence is registered BEFORE the factory
  // runs, so a store the factory creates finds it through write_fence().
  std::shared_ptr<store::WriteFence> start(const std::string& business_id, const std::string& jid,
                                           std::int64_t epoch, prometheus::Counter* refused,
                                           core::ConnectionEvents events);
  // Revokes the write fence and stops the connection. Idempotent; never blocks on I/O.
  void stop(const std::string& business_id, core::DisconnectReason why);
  // stop() and forget the account's connection object.
  void release(const std::string& business_id, core::DisconnectReason why);

  // nullopt when the account has no connection object.
  std::optional<core::ConnectionState> connection_state(const std::string& business_id) const;
  // The account's connection object (null if none), kept alive while the caller holds it: for
  // requests that block (a pair code) and so must not run under the supervisor's lock.
  std::shared_ptr<core::Connection> connection(const std::string& business_id) const;
  std::shared_ptr<store::WriteFence> write_fence(const std::string& business_id) const;

 private:
  struct Slot {
    std::shared_ptr<store::WriteFence> fence;
    std::shared_ptr<core::Connection> conn;
  };
  core::ConnectionFactory* factory_;
  mutable std::mutex mu_;
  std::map<std::string, Slot> slots_;
};

}  // namespace wa::ha
