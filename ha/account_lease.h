// One account as this pod's elector sees it: the registry row, its role (account_state.h), the
// lease it holds while leading, and the takeover hold. transition() is the only way the role
// changes: it refuses edges the state machine does not have (and says so in the log), and keeps
// the leader gauge, the transition counter and role_changed log lines in step.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/metrics.h"
#include "ha/account_state.h"
#include "ha/backoff.h"
#include "ha/lease.h"
#include "store/accounts.h"

namespace wa::ha {

class LockSlot;

struct AccountLease {
  using Clock = std::chrono::steady_clock;

  store::Account acc;
  Role role = Role::standby;
  std::int64_t epoch = 0;
  std::int64_t since_ms = 0;
  LockSlot* slot = nullptr;      // the session holding this account's lock while leading
  std::shared_ptr<Lease> lease;  // while leading
  Clock::time_point won_at{};
  bool listed = true;
  bool login_observed = false;        // failover_seconds observed for this lease
  // The account had a device when the lock was won: its login measures a failover. Without one the
  // login waits for a person to pair (minutes), which is not a failover and is not counted.
  bool paired_at_win = false;
  Clock::time_point logged_in_at{};   // last logged_in of this lease
  Clock::time_point compete_after{};  // gave the account up: not before this
  std::optional<Backoff> give_up_backoff;

  // Takeover hold: the previous holder's pod was alive when this lease began, so the connection
  // starts only once it said it stopped (notice for hold_epoch), its liveness lock is gone, or
  // hold_until passed (its own lease deadline cannot be later).
  bool holding = false;
  std::string hold_pod;
  std::int64_t hold_epoch = 0;
  Clock::time_point hold_until{};
  Clock::time_point next_alive_check{};

  // Balanced leadership: the pod this account is targeted at (ha/balance.h; empty: none yet), and
  // since when this pod has seen it without a leader (probe; {} = held or not seen free).
  std::string target;
  Clock::time_point free_since{};
  // This pod handed the account over (compete_after is its cooldown): lifted when the target
  // changes, e.g. the pod it went to died.
  bool handed_over = false;
  // This pod lost the account by a fence: healthy pods get the first chance, so until someone
  // takes it again this pod takes it only as a leaderless account (2x the grace).
  bool yield = false;

  const std::string& id() const { return acc.business_id; }

  // Changes the role if the state machine has the edge; returns false (role unchanged, logged as
  // an error) if it does not. Same-role calls are no-ops that return true.
  bool transition(Role to, std::string_view why, Metrics& metrics);
};

std::int64_t unix_ms_now();

}  // namespace wa::ha
