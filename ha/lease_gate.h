// The HA layer's gate in front of an account's store writes (ha/leased_device_store.h,
// ha/leased_message_store.h): a write is refused with client::StoreFenced, which stops the client,
// before it starts once the fence is revoked (this pod no longer leads) or the lease deadline
// passed (a pod resuming from SIGSTOP writes nothing before it is fenced). The epoch check in the
// database (store/fenced_write.h) stays the authority; this gate only refuses early and without a
// round trip. Immutable after construction; thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "store/fenced_write.h"

namespace wa::ha {

class LeaseGate {
 public:
  // `fence` null: a read-only view (a revoked fence: every write is refused). `lease_fresh` is
  // false once the lease deadline passed; empty: always fresh (the fence alone gates).
  LeaseGate(std::string business_id, std::shared_ptr<store::WriteFence> fence,
            std::function<bool()> lease_fresh);

  // Throws client::StoreFenced naming `purpose` and the account when a write must not start.
  void check(std::string_view purpose) const;

  const std::string& business_id() const { return business_id_; }
  const std::shared_ptr<store::WriteFence>& fence() const { return fence_; }

 private:
  std::string business_id_;
  std::shared_ptr<store::WriteFence> fence_;
  std::function<bool()> lease_fresh_;
};

}  // namespace wa::ha
