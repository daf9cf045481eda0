// The per-account role state machine of one pod:
//
//   standby --won lock--> leader (connecting) --connection up--> active
//   leader|active --heartbeat deadline / lock missing--> fenced --lock session back--> standby
//   leader|active --SIGTERM--> resigning (stop connection, unlock + NOTIFY, then exit)
//   leader|active --connection gave up (logged out, replaced, failed)--> resigning --unlocked--> standby
//
// With no WhatsApp connection built (or none configured), leader becomes active at once.
#pragma once

#include <string_view>

namespace wa::ha {

enum class Role { standby, leader, active, fenced, resigning };

const char* to_string(Role r);
// True for the roles in which this pod holds the account's lock and may act for it.
bool leads(Role r);
// Whether the state machine above has the edge from -> to.
bool transition_allowed(Role from, Role to);

}  // namespace wa::ha
