// ha_members: one row per pod with its heartbeat, so operators (and `accounts rekey`) can see which
// pods are alive. Informational only: mutual exclusion comes from the advisory locks, never from
// this table.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/pg.h"

namespace wa::store {

struct Member {
  std::string pod;
  std::int64_t started_at_ms = 0;    // Unix ms, database clock
  std::int64_t heartbeat_at_ms = 0;  // Unix ms, database clock
  std::string version;
  int leading = 0;                   // accounts this pod led at its last heartbeat
  int backend_pid = 0;               // the pod's lock-session backend pid at its last heartbeat
};

// Called once at pod start: upsert with started_at = heartbeat_at = now().
void register_member(pg::Connection& conn, const std::string& pod, const std::string& version, int backend_pid = 0);
// Periodic: upsert heartbeat_at = now() (started_at kept), version, leading, backend_pid.
void heartbeat_member(pg::Connection& conn, const std::string& pod, const std::string& version, int leading = 0,
                      int backend_pid = 0);
// On clean shutdown.
void remove_member(pg::Connection& conn, const std::string& pod);
// All members ordered by pod; with `alive_within`, only those whose heartbeat is that recent.
std::vector<Member> list_members(pg::Connection& conn,
                                 std::optional<std::chrono::milliseconds> alive_within = std::nullopt);

// The pods that are running now: member rows whose pod holds its liveness lock (advisory_lock.h)
// at this instant, whatever the age of their heartbeat. Ordered by pod. `leading` as beaten.
std::vector<Member> list_live_members(pg::Connection& conn);

}  // namespace wa::store
