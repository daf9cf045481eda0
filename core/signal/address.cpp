#include "core/signal/address.h"

#include <stdexcept>

namespace wa::signal {

std::uint8_t signal_domain(const binary::Jid& jid) {
  if (jid.server == binary::server::kUser) return 0;
  if (jid.server == binary::server::kLid) return 1;
  if (jid.server == binary::server::kHosted) return 128;
  if (jid.server == binary::server::kHostedLid) return 129;
  return jid.agent;
}

Address Address::from_jid(const binary::Jid& jid) {
  if (jid.user.empty()) throw std::invalid_argument("signal address: the JID names a server, not a user");
  Address a;
  a.name = jid.user;
  if (auto d = signal_domain(jid); d != 0) {
    a.name += '_';
    a.name += std::to_string(d);
  }
  a.device = jid.device.value_or(0);
  return a;
}

std::string Address::to_string() const {
  return name + ":" + std::to_string(device);
}

}  // namespace wa::signal
