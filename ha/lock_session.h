// A dedicated libpq session that holds advisory locks. Session locks live exactly as long as this
// connection, so everything about it is chosen for failover safety:
//  * server-side TCP keepalives + tcp_user_timeout on the session, so PostgreSQL drops a vanished
//    holder (and its locks) after a bounded time instead of the kernel's ~2 h 11 min;
//  * libpq client keepalives only as a backstop to free a hung socket, never as the fence;
//  * heartbeats, lock attempts and begin_lease are sent asynchronously and awaited with a
//    client-side deadline: on a cut network the server never sees the statement, so
//    statement_timeout could never fire. A few short statements that take no row locks (unlock,
//    NOTIFY, reading the account, a pairing key move) run synchronously;
//  * lock_timeout bounds any row-lock wait (begin_lease behind an old leader's open write) and
//    idle_in_transaction_session_timeout any transaction left open;
//  * the backend's identity (pid, backend_start) is read at open, so the heartbeat can tell that
//    its statements still reach the backend that holds the locks.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "store/advisory_lock.h"
#include "store/pg.h"

namespace wa::ha {

using SteadyClock = std::chrono::steady_clock;

struct SessionSettings {
  std::string url;
  std::string application_name;  // e.g. "waconnector/pod-0/lock"
  std::string purpose;           // for errors, e.g. "lock session"
  // Server side (per session; ignored by PostgreSQL on unix sockets). The server drops a silent
  // client about max(tcp_user_timeout, idle + interval) after the last packet it received.
  int server_keepalives_idle_s = 2;
  int server_keepalives_interval_s = 1;
  int server_keepalives_count = 3;
  int server_tcp_user_timeout_ms = 8000;
  // Only for sessions that sit inside a statement (block-mode waiters): the backend notices a
  // dead client while running pg_advisory_lock and gives up the queue position.
  int client_connection_check_interval_ms = 0;
  // A session idle (no statement) this long is closed by the server, releasing its locks: the
  // bound for a holder whose process is stopped (SIGSTOP, a frozen VM) while its kernel still
  // answers TCP keepalives. Heartbeats keep a healthy session busier than this. 0 = off.
  int server_idle_session_timeout_ms = 0;
  // Row-lock waits and open transactions on this session are bounded (0 = off).
  int lock_timeout_ms = 0;
  int idle_in_transaction_timeout_ms = 10000;
  // Client side backstop.
  int client_tcp_user_timeout_ms = 3000;
  int connect_timeout_s = 5;
};

// Server settings derived from the fence deadline: release no sooner than fence_after + margin,
// and no later than 15 s. Throws std::invalid_argument when fence_after leaves no room.
SessionSettings safe_session_settings(std::chrono::milliseconds fence_after,
                                      std::chrono::milliseconds margin);

class LockSession {
 public:
  // Connects (synchronously, bounded by connect_timeout) and applies the server settings.
  // Throws pg::Error naming the purpose.
  static LockSession open(const SessionSettings& s);

  LockSession() = default;
  LockSession(LockSession&&) noexcept = default;
  LockSession& operator=(LockSession&&) noexcept = default;

  bool valid() const { return conn_.valid(); }
  bool ok() const { return conn_.ok(); }
  int socket() const { return conn_.socket(); }
  int backend_pid() const { return conn_.backend_pid(); }
  // The backend as it was when the session opened.
  const store::SessionIdentity& identity() const { return identity_; }
  // True when the session runs over a unix socket, where TCP keepalive settings do not apply.
  bool unix_socket() const { return unix_socket_; }
  pg::Connection& conn() { return conn_; }

  // Starts one parameterised statement without waiting. Throws pg::Error if it cannot be sent.
  void send(std::string_view purpose, const char* sql, const std::vector<pg::Param>& params = {});
  bool busy() const { return in_flight_; }
  SteadyClock::time_point sent_at() const { return sent_at_; }
  const std::string& in_flight_purpose() const { return purpose_; }

  // Reads whatever the socket has (call when poll() says readable, or any time). Returns the
  // result once the statement finished; throws pg::Error if it failed or the session died.
  // Notifications that arrived are counted into notifications().
  std::optional<pg::Result> collect();
  // Number of NOTIFYs received since the last call (drained).
  int take_notifications();
  // Their payloads (drained).
  std::vector<std::string> take_payloads();

  // Asks the server to cancel the running statement (PQcancel; safe from another thread while
  // the owner is blocked). Returns false if the request could not be sent.
  bool cancel();
  void close() {
    conn_.close();
    in_flight_ = false;
  }

 private:
  explicit LockSession(pg::Connection c) : conn_(std::move(c)) {}
  void drain_notifies();
  pg::Connection conn_;
  bool unix_socket_ = false;
  bool in_flight_ = false;
  std::string purpose_;
  SteadyClock::time_point sent_at_{};
  std::optional<pg::Result> last_;
  std::string error_;
  std::string error_state_;
  int notifications_ = 0;
  std::vector<std::string> payloads_;
  store::SessionIdentity identity_;
};

}  // namespace wa::ha
