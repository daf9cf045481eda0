// Database side of pairing for the app: reading an account's current QR (any pod serves it) and
// the pair-code requests of `accounts pair --phone` (the CLI asks, the account's leader answers).
// Tables: wa_accounts.qr_code/qr_expires_at and wa_pair_code_requests (migration 0003).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "store/pg.h"

namespace wa::app {

// An account's pairing view, as the QR endpoint and `accounts pair` need it.
struct PairingState {
  std::string business_id;
  std::string status;                       // wa_accounts.status
  std::optional<std::string> jid;           // set once paired
  std::optional<std::string> qr;            // the live QR string; nullopt when none or expired
  std::optional<std::int64_t> expires_at_ms;  // the live QR's expiry (Unix ms); nullopt if unknown
  std::int64_t db_now_ms = 0;               // the database's clock when read
};

// nullopt when the account is not registered. A QR whose qr_expires_at passed counts as none.
std::optional<PairingState> read_pairing_state(pg::Connection& conn, const std::string& business_id);

// Makes a logged-out account pairable again, in one transaction: lease_epoch+1 (a stale writer
// is fenced), jid cleared and the lock key recomputed for pairing, status 'disconnected', QR
// cleared, its device rows (keys of the removed device) deleted. Returns false, changing nothing,
// unless the account's status is logged_out. Throws pg::Error.
bool reset_logged_out_for_pairing(pg::Connection& conn, const std::string& business_id);

// --- pair-code requests ---

struct PairCodeRequest {
  std::int64_t id = 0;
  std::string business_id;
  std::string phone;  // digits only
  bool show_push_notification = true;
  std::string state;  // pending | answered | failed
  std::optional<std::string> code;   // answered: 8 characters, no dash
  std::optional<std::string> error;  // failed: why
  std::optional<std::string> answered_by;
};

// Inserts a pending request (NOTIFY wa_pair_code_request wakes the leaders). `phone_digits` must
// be digits only. Throws pg::Error (e.g. foreign key: account not registered).
std::int64_t insert_pair_code_request(pg::Connection& conn, const std::string& business_id,
                                      const std::string& phone_digits, bool show_push_notification);
std::optional<PairCodeRequest> get_pair_code_request(pg::Connection& conn, std::int64_t id);
// Pending requests of the listed accounts, oldest first; requests older than `max_age_ms` are
// marked failed ("expired before a leader answered") instead of being returned.
std::vector<PairCodeRequest> pending_pair_code_requests(pg::Connection& conn,
                                                             const std::vector<std::string>& business_ids,
                                                             std::int64_t max_age_ms);
// Answers a pending request; false when it is no longer pending (answered, failed or expired).
bool answer_pair_code_request(pg::Connection& conn, std::int64_t id, const std::string& pod, const std::string& code);
bool fail_pair_code_request(pg::Connection& conn, std::int64_t id, const std::string& pod, const std::string& error);

// Waits until a NOTIFY arrives on `conn` (which LISTENs), `wake_fd` (if >= 0) becomes readable,
// or `timeout` passes; drains the notifications that arrived. Returns true when one arrived.
// Throws pg::Error when the connection broke.
bool wait_for_notify(pg::Connection& conn, std::chrono::milliseconds timeout, int wake_fd = -1);

// A few reusable connections for HTTP handlers (civetweb runs them on up to 4 threads). A
// connection that broke is dropped, the next call opens a new one; opening is bounded by a
// connect timeout so a dead database answers 503 within the request timeout.
class PgConnectionPool {
 public:
  PgConnectionPool(std::string url, std::string application_name, std::size_t max_idle = 2);

  // Runs fn(pg::Connection&) on a pooled connection and returns its result. Throws what fn or
  // the connect throws.
  template <typename Fn>
  auto with(Fn&& fn) {
    auto c = acquire();
    try {
      if constexpr (std::is_void_v<decltype(fn(c))>) {
        fn(c);
        release(std::move(c));
      } else {
        auto r = fn(c);
        release(std::move(c));
        return r;
      }
    } catch (const pg::Error& e) {
      if (!e.connection_lost()) release(std::move(c));
      throw;
    }
  }

 private:
  pg::Connection acquire();
  void release(pg::Connection c);

  std::string url_;
  std::string application_name_;
  std::size_t max_idle_;
  std::mutex mu_;
  std::vector<pg::Connection> idle_;
};

}  // namespace wa::app
