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
  std::shared_ptr<core::Connection> old;
  {
    std::lock_guard lk(mu_);
    auto& slot = slots_[business_id];
    if (slot.fence) slot.fence->revoke();
    if (slot.conn) slot.conn->stop(core::DisconnectReason::instance_restart);
    old = std::move(slot.conn);
    slot.fence = fence;
  }
  old.reset();  // outside the lock: a connection's destructor may join its threads
  if (factory_ == nullptr) return fence;
  // Outside the lock: the factory's store looks the fence up through write_fence().
  std::shared_ptr<core::Connection> conn = factory_->create(business_id, jid, std::move(events), nullptr);
  {
    std::lock_guard lk(mu_);
    auto it = slots_.find(business_id);
    // Fenced or released while the connection was being built: it never starts.
    if (it == slots_.end() || it->second.fence != fence || fence->revoked()) return fence;
    it->second.conn = conn;
  }
  // Outside the lock: start() may report state synchronously.
  conn->start();
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
  std::shared_ptr<core::Connection> conn;
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

namespace wa::ha {

std::shared_ptr<core::Connection> Supervisor::connection(const std::string& business_id) const {
  std::lock_guard lk(mu_);
  auto it = slots_.find(business_id);
  return it == slots_.end() ? nullptr : it->second.conn;
}

}  // namespace wa::ha
