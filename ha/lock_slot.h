// One lock-holding session (the pod's in poll mode, an account's waiter in block mode) and the
// one statement it may have in flight. collect() turns the server's answer into what the elector
// acts on: keys won, keys confirmed or missing (heartbeat), a begun lease, a liveness answer.
// Owned and used by the elector's thread only; the session watch gets a dup of its socket.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ha/lock_session.h"
#include "store/accounts.h"

namespace wa::ha {

class SessionWatch;

class LockSlot {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Op { none, heartbeat, try_lock, wait_lock, begin_lease, alive_check };

  struct Outcome {
    Op op = Op::none;
    Clock::time_point sent{};
    std::vector<std::int64_t> won;      // try_lock / wait_lock
    std::vector<std::int64_t> busy;     // try_lock: held elsewhere (tried or probed)
    std::vector<std::int64_t> free;     // try_lock: probed keys nobody holds (not taken)
    std::vector<std::int64_t> missing;  // heartbeat: believed held, not in pg_locks
    bool identity_changed = false;      // heartbeat: another backend answered
    std::string account;                // begin_lease / alive_check
    std::optional<store::Lease> lease;  // begin_lease: nullopt = key moved / logged out / gone
    bool alive = false;                 // alive_check
  };

  LockSlot(std::string name, int watch_id, SessionWatch& watch)
      : name_(std::move(name)), watch_id_(watch_id), watch_(watch) {}
  ~LockSlot() { close(); }
  LockSlot(const LockSlot&) = delete;
  LockSlot& operator=(const LockSlot&) = delete;

  const std::string& name() const { return name_; }
  bool valid() const { return ls_.valid(); }
  bool busy() const { return ls_.busy(); }
  Op op() const { return op_; }
  int socket() const { return ls_.socket(); }
  int backend_pid() const { return ls_.backend_pid(); }
  Clock::time_point sent_at() const { return ls_.sent_at(); }
  const std::string& in_flight_purpose() const { return ls_.in_flight_purpose(); }
  pg::Connection& conn() { return ls_.conn(); }
  LockSession& session() { return ls_; }

  std::set<std::int64_t> held;  // keys this session holds (as far as we know)
  Clock::time_point next_heartbeat{};
  // When open() last succeeded (the elector's retry pacing: a session that lived long was fine).
  Clock::time_point opened_at{};

  // Opens the session (closing any old one) and registers it with the session watch.
  void open(const SessionSettings& s);
  // Unregisters from the watch, then closes (releasing everything the session held).
  void close();

  void send_heartbeat(std::string_view purpose = "lock heartbeat");
  // Tries `keys`; with `probes`, also reports which of those nobody holds (store::kTryAndProbeSql).
  void send_try(std::vector<std::int64_t> keys, const std::vector<std::int64_t>& probes = {});
  void send_wait(std::int64_t key, const std::string& account);
  void send_begin_lease(const std::string& account, const std::string& pod, std::int64_t key);
  // Is `pod` (the previous holder of `account`, lease `epoch`) still acting: liveness lock held and
  // no stop of that lease recorded (store::kPreviousLeaderActiveSql).
  void send_alive_check(const std::string& account, const std::string& pod, std::int64_t epoch);
  // Cancels a running statement server-side (a waiter that is no longer needed).
  void cancel() { ls_.cancel(); }
  // Synchronous release of `keys` (short; no row locks). Throws pg::Error.
  void unlock(const std::vector<std::int64_t>& keys);

  // Reads what arrived; returns the outcome once the in-flight statement finished. Throws
  // pg::Error when it failed or the session died (op() still tells what was in flight).
  std::optional<Outcome> collect();
  int take_notifications() { return ls_.take_notifications(); }

 private:
  std::string name_;
  int watch_id_;
  SessionWatch& watch_;
  LockSession ls_;
  Op op_ = Op::none;
  std::vector<std::int64_t> op_keys_;
  std::string op_account_;
  std::string op_pod_;
};

}  // namespace wa::ha
