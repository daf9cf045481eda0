#include "ha/account_state.h"

namespace wa::ha {

const char* to_string(Role r) {
  switch (r) {
    case Role::standby: return "standby";
    case Role::leader: return "leader";
    case Role::active: return "active";
    case Role::fenced: return "fenced";
    case Role::resigning: return "resigning";
  }
  return "unknown";
}

bool leads(Role r) { return r == Role::leader || r == Role::active; }

bool transition_allowed(Role from, Role to) {
  switch (from) {
    case Role::standby: return to == Role::leader;
    case Role::leader: return to == Role::active || to == Role::fenced || to == Role::resigning;
    case Role::active: return to == Role::fenced || to == Role::resigning;
    case Role::fenced: return to == Role::standby || to == Role::resigning;
    case Role::resigning: return to == Role::standby;  // gave the account up while running
  }
  return false;
}

}  // namespace wa::ha
