// Pairing state every pod must see: the account's current QR (the leader writes it through the
// device store; any pod serves it), the relink of a logged-out account, and the pair-code requests
// of `accounts pair --phone` (the CLI asks, the account's leader answers).
// Tables: wa_accounts.qr_code/qr_expires_at/jid/status, wa_pair_code_requests (migration 0003) and
// the pairing history wa_pairings (0005).
//
// The leader's writes here are fenced like every other account write: answering or failing a
// request checks the leader's lease epoch in the same transaction (WriteFence), so a pod that
// lost the account (a stale view of what it leads, a pause) cannot answer for the new leader.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/fenced_write.h"
#include "store/pg.h"

namespace wa::store {

// An account's pairing view, as the QR endpoint and `accounts pair` need it.
struct PairingState {
  std::string business_id;
  std::string status;                         // wa_accounts.status
  std::optional<std::string> jid;             // set once paired
  std::optional<std::string> qr;              // the live QR string; nullopt when none or expired
  std::optional<std::int64_t> expires_at_ms;  // the live QR's expiry (Unix ms); nullopt if unknown
  std::int64_t db_now_ms = 0;                 // the database's clock when read
};

// nullopt when the account is not registered. A QR whose qr_expires_at passed counts as none.
std::optional<PairingState> read_pairing_state(pg::Connection& conn, const std::string& business_id);

// Makes a logged-out account pairable again, in one transaction: its jid cleared and its lock key
// back to the pairing key (through the registry, as set_jid does), status 'disconnected', QR
// cleared, its device (keys of the removed device, and their pre-keys) deleted, its pairing ended
// ('relinked') in the history, and lease_epoch+1
// so that a late write of the lease that ended with the logout cannot undo any of it. Returns
// false, changing nothing, unless the account's status is logged_out. Throws pg::Error,
// StoreError (e.g. KeyCollision), EpochMoved when a lease began meanwhile.
bool reset_logged_out_for_pairing(pg::Connection& conn, const std::string& business_id);

// --- pairing history (wa_pairings) ---

struct Pairing {
  std::string jid;
  std::int64_t epoch = 0;          // the lease that paired it
  std::optional<std::string> pod;  // the pod that held that lease
  std::int64_t paired_at_ms = 0;
  std::optional<std::int64_t> ended_at_ms;
  std::optional<std::string> end_reason;  // logged_out | relinked | paired_again
};

// Oldest first.
std::vector<Pairing> pairing_history(pg::Connection& conn, const std::string& business_id);
// Inside the caller's transaction (the pairing's own): ends the current pairing as
// 'paired_again' and records `jid` under `epoch` (the pod is the account's assigned_pod).
void record_pairing_in_transaction(pg::Connection& conn, const std::string& business_id,
                                   const std::string& jid, std::int64_t epoch);
// Inside the caller's transaction: ends the account's current pairing (if any) with `reason`
// ('logged_out' or 'relinked').
void end_pairing_in_transaction(pg::Connection& conn, const std::string& business_id, const char* reason);

// --- pair-code requests ---

struct PairCodeRequest {
  std::int64_t id = 0;
  std::string business_id;
  std::string phone;  // digits only
  bool show_push_notification = true;
  std::string state;                 // pending | answered | failed
  std::optional<std::string> code;   // answered: 8 characters, no dash
  std::optional<std::string> error;  // failed: why
  std::optional<std::string> answered_by;
  bool expired = false;  // pending_pair_code_requests: older than its max age (by the database clock)
};

// Inserts a pending request (the table's trigger NOTIFYs kPairCodeRequestChannel). `phone_digits`
// must be digits only. Throws pg::Error (e.g. foreign key: account not registered).
std::int64_t insert_pair_code_request(pg::Connection& conn, const std::string& business_id,
                                      const std::string& phone_digits, bool show_push_notification);
std::optional<PairCodeRequest> get_pair_code_request(pg::Connection& conn, std::int64_t id);
// Pending requests of the listed accounts, oldest first (a read: writes nothing). Requests older
// than `max_age_ms` come back with `expired` set: the leader fails them instead of serving them.
std::vector<PairCodeRequest> pending_pair_code_requests(pg::Connection& conn,
                                                        const std::vector<std::string>& business_ids,
                                                        std::int64_t max_age_ms);
// The leader answers a pending request of the account `fence` guards, fenced by its epoch in the
// same transaction: throws EpochMoved (writing nothing) when the fence is revoked or the epoch
// moved, StoreError when the request belongs to another account. False when the request is no
// longer pending (answered, failed or withdrawn meanwhile).
bool answer_pair_code_request(pg::Connection& conn, const WriteFence& fence, std::int64_t id,
                              const std::string& pod, const std::string& code);
// The same for a failure (error text kept to 500 characters).
bool fail_pair_code_request(pg::Connection& conn, const WriteFence& fence, std::int64_t id,
                            const std::string& pod, const std::string& error);
// The requester (the CLI) gives up its own pending request; not an account write, so not fenced.
bool withdraw_pair_code_request(pg::Connection& conn, std::int64_t id, const std::string& why);

}  // namespace wa::store
