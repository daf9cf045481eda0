// Starts and stops the WhatsApp connection of each account this pod leads, under the account's
// lease (ha/lease.h). stop() is what fencing calls: it must act at once and never block on the
// network or the database, and it may be called from the fence-guard or session-watch thread
// while the elector's thread is busy, so everything here is behind one mutex.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "core/connection.h"
#include "ha/lease.h"
#include "store/fenced_write.h"

namespace wa::ha {

// The leases of the accounts this pod currently runs, by business_id. The supervisor publishes a
// lease BEFORE the connection factory runs, so a store the factory builds finds it here.
class Leases {
 public:
  std::shared_ptr<Lease> get(const std::string& business_id) const;
  void put(std::shared_ptr<Lease> lease);
  // Removes the entry only if it is still `lease`.
  void erase(const std::shared_ptr<Lease>& lease);

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Lease>> m_;
};

class Supervisor {
 public:
  // `factory` may be null: no WhatsApp transport is built yet, and the pod only leads.
  explicit Supervisor(core::ConnectionFactory* factory,
                      std::shared_ptr<Leases> leases = std::make_shared<Leases>())
      : factory_(factory), leases_(std::move(leases)) {}
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  bool has_transport() const { return factory_ != nullptr; }

  // Publishes the lease and starts the account's connection under it (if a factory exists); an
  // older connection of the account is stopped first.
  void start(const std::shared_ptr<Lease>& lease, const std::string& jid, core::ConnectionEvents events);
  // Revokes the lease's write fence and stops the connection. Idempotent; never blocks on I/O.
  void stop(const std::string& business_id, core::DisconnectReason why);
  // stop() and forget the account's connection object.
  void release(const std::string& business_id, core::DisconnectReason why);

  // nullopt when the account has no connection object.
  std::optional<core::ConnectionState> connection_state(const std::string& business_id) const;
  // The account's connection object (null if none), kept alive while the caller holds it: for
  // requests that block (a pair code) and so must not run under the supervisor's lock.
  std::shared_ptr<core::Connection> connection(const std::string& business_id) const;
  std::shared_ptr<store::WriteFence> write_fence(const std::string& business_id) const;
  std::shared_ptr<Lease> lease(const std::string& business_id) const;

 private:
  struct Slot {
    std::shared_ptr<Lease> lease;
    std::shared_ptr<core::Connection> conn;
  };
  core::ConnectionFactory* factory_;
  std::shared_ptr<Leases> leases_;
  mutable std::mutex mu_;
  std::map<std::string, Slot> slots_;
};

}  // namespace wa::ha
