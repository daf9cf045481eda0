#include "ha/account_lease.h"

#include "common/log.h"
#include "common/mask.h"

namespace wa::ha {

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool AccountLease::transition(Role to, std::string_view why, Metrics& metrics) {
  if (role == to) return true;
  if (!transition_allowed(role, to)) {
    wa::log::error("transition_refused")
        .kv("business_id", id())
        .kv("from", to_string(role))
        .kv("to", to_string(to))
        .kv("reason", why);
    return false;
  }
  const Role from = role;
  role = to;
  since_ms = unix_ms_now();
  if (leads(from) != leads(to)) {
    metrics.leader(id()).Set(leads(to) ? 1 : 0);
    metrics.leader_transitions.Increment();
  }
  auto line = (to == Role::fenced) ? wa::log::error("role_changed") : wa::log::info("role_changed");
  line.kv("business_id", id())
      .kv("from", to_string(from))
      .kv("to", to_string(to))
      .kv("epoch", epoch)
      .kv("reason", why);
  if (acc.jid) line.kv("jid", mask_jid(*acc.jid));
  return true;
}

}  // namespace wa::ha
