#include "ha/supervisor.h"

namespace wa::ha {

Supervisor::~Supervisor() {
  std::lock_guard lk(mu_);
  for (auto& [id, slot] : slots_) {
    if (slot.fence) slot.fence->revoke();
    if (slot.conn) slot.conn->stop(core::DisconnectReason::instance_restart);
  }
}

std::shared_ptr<store::WriteFence> Supervisor::start(const std::string& business_id, const std::string& jid,
                                                     std::int64_t epoch, prometheus::Counter* refused,
                                                     core::ConnectionEvents events) {
  auto fence = std::make_shared<store::WriteFence>(business_id, epoch, refused);
  std::unique_ptr<core::Connection> conn;
  if (factory_ != nullptr) conn = factory_->create(business_id, jid, std::move(events));
  core::Connection* raw = conn.get();
  {
    std::lock_guard lk(mu_);
    auto& slot = slots_[business_id];
    if (slot.fence) slot.fence->revoke();
    if (slot.conn) slot.conn->stop(core::DisconnectReason::instance_restart);
    slot.fence = fence;
    slot.conn = std::move(conn);
  }
  // Outside the lock: start() may report state synchronously.
  if (raw != nullptr) raw->start();
  return fence;
}

void Supervisor::stop(const std::string& business_id, core::DisconnectReason why) {
  std::lock_guard lk(mu_);
  auto it = slots_.find(business_id);
  if (it == slots_.end()) return;
  if (it->second.fence) it->second.fence->revoke();
  if (it->second.conn) it->second.conn->stop(why);
}

void Supervisor::release(const std::string& business_id, core::DisconnectReason why) {
  std::unique_ptr<core::Connection> conn;
  {
    std::lock_guard lk(mu_);
    auto it = slots_.find(business_id);
    if (it == slots_.end()) return;
    if (it->second.fence) it->second.fence->revoke();
    if (it->second.conn) it->second.conn->stop(why);
    conn = std::move(it->second.conn);
    slots_.erase(it);
  }
  // Destroyed outside the lock: a connection's destructor may join its threads.
}

std::optional<core::ConnectionState> Supervisor::connection_state(const std::string& business_id) const {
  std::lock_guard lk(mu_);
  auto it = slots_.find(business_id);
  if (it == slots_.end() || !it->second.conn) return std::nullopt;
  return it->second.conn->state();
}

std::shared_ptr<store::WriteFence> Supervisor::write_fence(const std::string& business_id) const {
  std::lock_guard lk(mu_);
  auto it = slots_.find(business_id);
  if (it == slots_.end()) return nullptr;
  return it->second.fence;
}

}  // namespace wa::ha
