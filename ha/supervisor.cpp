#include "ha/supervisor.h"

namespace wa::ha {

std::shared_ptr<Lease> Leases::get(const std::string& business_id) const {
  std::lock_guard lk(mu_);
  auto it = m_.find(business_id);
  return it == m_.end() ? nullptr : it->second;
}

void Leases::put(std::shared_ptr<Lease> lease) {
  std::lock_guard lk(mu_);
  const auto id = lease->business_id();
  m_[id] = std::move(lease);
}

void Leases::erase(const std::shared_ptr<Lease>& lease) {
  std::lock_guard lk(mu_);
  auto it = m_.find(lease->business_id());
  if (it != m_.end() && it->second == lease) m_.erase(it);
}

Supervisor::~Supervisor() {
  std::lock_guard lk(mu_);
  for (auto& [id, slot] : slots_) {
    if (slot.lease) slot.lease->revoke();
    if (slot.conn) slot.conn->stop(core::DisconnectReason::instance_restart);
  }
}

void Supervisor::start(const std::shared_ptr<Lease>& lease, const std::string& jid,
                       core::ConnectionEvents events) {
  const std::string& business_id = lease->business_id();
  std::shared_ptr<core::Connection> old;
  {
    std::lock_guard lk(mu_);
    auto& slot = slots_[business_id];
    if (slot.lease) slot.lease->revoke();
    if (slot.conn) slot.conn->stop(core::DisconnectReason::instance_restart);
    old = std::move(slot.conn);
    slot.lease = lease;
  }
  leases_->put(lease);
  old.reset();  // outside the lock: a connection's destructor may join its threads
  if (factory_ == nullptr) return;
  // Outside the lock: the factory's store looks the lease up in Leases.
  std::shared_ptr<core::Connection> conn = factory_->create(business_id, jid, std::move(events), lease);
  {
    std::lock_guard lk(mu_);
    auto it = slots_.find(business_id);
    // Fenced or released while the connection was being built: it never starts.
    if (it == slots_.end() || it->second.lease != lease || lease->fence()->revoked()) return;
    it->second.conn = conn;
  }
  // Outside the lock: start() may report state synchronously.
  conn->start();
}

void Supervisor::stop(const std::string& business_id, core::DisconnectReason why) {
  std::lock_guard lk(mu_);
  auto it = slots_.find(business_id);
  if (it == slots_.end()) return;
  if (it->second.lease) it->second.lease->revoke();
  if (it->second.conn) it->second.conn->stop(why);
}

void Supervisor::release(const std::string& business_id, core::DisconnectReason why) {
  std::shared_ptr<core::Connection> conn;
  std::shared_ptr<Lease> lease;
  {
    std::lock_guard lk(mu_);
    auto it = slots_.find(business_id);
    if (it == slots_.end()) return;
    if (it->second.lease) it->second.lease->revoke();
    if (it->second.conn) it->second.conn->stop(why);
    conn = std::move(it->second.conn);
    lease = std::move(it->second.lease);
    slots_.erase(it);
  }
  if (lease) leases_->erase(lease);
  // Destroyed outside the lock: a connection's destructor may join its threads.
}

std::optional<core::ConnectionState> Supervisor::connection_state(const std::string& business_id) const {
  std::lock_guard lk(mu_);
  auto it = slots_.find(business_id);
  if (it == slots_.end() || !it->second.conn) return std::nullopt;
  return it->second.conn->state();
}

std::shared_ptr<core::Connection> Supervisor::connection(const std::string& business_id) const {
  std::lock_guard lk(mu_);
  auto it = slots_.find(business_id);
  return it == slots_.end() ? nullptr : it->second.conn;
}

std::shared_ptr<Lease> Supervisor::lease(const std::string& business_id) const {
  std::lock_guard lk(mu_);
  auto it = slots_.find(business_id);
  return it == slots_.end() ? nullptr : it->second.lease;
}

std::shared_ptr<store::WriteFence> Supervisor::write_fence(const std::string& business_id) const {
  auto l = lease(business_id);
  return l ? l->fence() : nullptr;
}

}  // namespace wa::ha
