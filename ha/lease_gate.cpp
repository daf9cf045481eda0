#include "ha/lease_gate.h"

#include <fmt/format.h>

#include "core/client/device_store.h"  // client::StoreFenced

namespace wa::ha {

LeaseGate::LeaseGate(std::string business_id, std::shared_ptr<store::WriteFence> fence,
                     std::function<bool()> lease_fresh)
    : business_id_(std::move(business_id)), fence_(std::move(fence)), lease_fresh_(std::move(lease_fresh)) {
  if (!fence_) {
    fence_ = std::make_shared<store::WriteFence>(business_id_, -1);
    fence_->revoke();
  }
}

void LeaseGate::check(std::string_view purpose) const {
  if (fence_->revoked())
    throw client::StoreFenced(
        fmt::format("{} for business {}: this pod no longer leads (fence revoked)", purpose, business_id_));
  if (lease_fresh_ && !lease_fresh_())
    throw client::StoreFenced(
        fmt::format("{} for business {}: lease deadline passed", purpose, business_id_));
}

}  // namespace wa::ha
