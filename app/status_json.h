// What /status and /ready say about this pod, computed from a snapshot the runner fills in.
// Kept apart from the HTTP server so the rules are testable without sockets.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace wa::app {

struct AccountStatus {
  std::string business_id;
  std::string role;                       // standby | leader | active | fenced | resigning
  std::int64_t epoch = 0;                 // lease epoch while leading, else last seen (0 = none)
  std::int64_t since_unix_ms = 0;         // when the current role began
  std::string jid;                        // unmasked; rendered masked. Empty before pairing
  std::optional<std::string> connection;  // core::to_string(ConnectionState); nullopt = none exists
};

// This pod's share of the fleet (balanced leadership); pod names only, no accounts.
struct ShareStatus {
  std::vector<std::string> live_pods;
  int accounts = 0;
  int fair_share = 0;
  int leading = 0;
  int targeted = 0;
  std::int64_t handovers = 0;
};

struct PodStatus {
  std::string pod;
  std::string version;
  bool db_reachable = false;
  bool db_writable = true;  // false: this pod's writes are refused as read-only
  bool elector_running = false;
  std::vector<AccountStatus> accounts;
  ShareStatus share;
};

// {"pod":..., "version":..., "db_reachable":..., "elector_running":..., "share":{"live_pods":[...],
// "accounts":N, "fair_share":N, "leading":N, "targeted":N, "handovers":N}, "accounts":[{...}]}
// with jids masked (common/mask.h).
std::string render_status_json(const PodStatus& s);

// Readiness is about this pod only: database reachable (registry and lock sessions) and elector
// running. The led accounts' WhatsApp connections do not count: a WhatsApp outage must not make
// every leader NotReady, stall rollouts and block node drains. Connection health is in
// waconnector_connected and the WaconnectorLeaderNotLoggedIn alert.
// Returns {ready, JSON body with "ready" and "reasons"}.
std::pair<bool, std::string> evaluate_ready(const PodStatus& s);

}  // namespace wa::app
