// The durable outbox (wa_outbox). Any pod enqueues (CLI, API); the account's leader claims queued
// rows in batches (`FOR UPDATE SKIP LOCKED`, so concurrent claimers never get the same row) under its
// lease epoch, sends them and moves their status forward: queued -> sent -> delivered -> read (never
// backwards), or failed with a reason. A row claimed by an older epoch but still `queued` (the old
// leader died between sending and recording it) is claimed again by the new leader and sent with the
// SAME message id, so the recipient's duplicate detection sees one message.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "store/accounts.h"
#include "store/errors.h"
#include "store/fenced_write.h"
#include "store/pg.h"

namespace wa::store {

// WhatsApp's limit on a text message, in characters (Unicode code points).
inline constexpr std::size_t kMaxTextChars = 65536;

// Bad input to enqueue (malformed recipient, empty or over-long text, bad id). Nothing was queued.
using InvalidMessage = wa::Error<struct InvalidMessageTag, StoreError>;

struct OutboxMessage {
  std::string business_id;
  std::string id;
  std::string recipient;
  std::string text;
  std::string status;  // queued | sent | delivered | read | failed
  std::optional<std::string> error;
  std::int64_t attempts = 0;
  std::optional<std::int64_t> claimed_epoch;
  std::optional<std::string> idempotency_key;
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
  // A reply: the quoted message's id, author and text (resolved when queued).
  std::optional<std::string> reply_to = std::nullopt, reply_to_sender = std::nullopt,
                             reply_to_text = std::nullopt;
};

struct EnqueueRequest {
  std::string business_id;
  std::string recipient;  // user JID (user@s.whatsapp.net, user@lid) or group JID (...@g.us)
  std::string text;
  std::optional<std::string> id = std::nullopt;  // the caller's message id; default 3EB0 + 18 hex
  std::optional<std::string> idempotency_key = std::nullopt;  // same key again returns the first row
  // The id of a message of this account (received or sent) this one replies to; enqueue throws
  // InvalidMessage when there is none.
  std::optional<std::string> reply_to = std::nullopt;
};

// Validation, without the database: an error sentence, or empty when fine.
std::string validate_recipient(std::string_view jid);
std::string validate_text(std::string_view text);  // non-empty, valid UTF-8, <= kMaxTextChars
std::string validate_message_id(std::string_view id);
// A new message id in WhatsApp Web's form: "3EB0" followed by 18 upper-case hex digits.
std::string new_message_id();

struct Enqueued {
  OutboxMessage message;
  bool created = true;  // false: an earlier request with the same idempotency key
  // When !created: whether that earlier request had the same recipient and text (the API answers a
  // reused key with a different body with an error instead of the earlier id).
  bool same_request = true;
};

// Queues a message. Throws InvalidMessage (bad input), NotFound (unknown account), AlreadyExists
// (the id is taken by another message). Runs its own transaction; fires the outbox NOTIFY.
Enqueued enqueue(pg::Connection& conn, const EnqueueRequest& req);

std::optional<OutboxMessage> find_outbox(pg::Connection& conn, const std::string& business_id,
                                         const std::string& id);

// Claims up to `limit` queued rows of the fence's account not yet claimed by this epoch (oldest
// first), stamps them with the epoch and counts an attempt. Fenced: throws EpochMoved for a stale
// epoch and claims nothing. Concurrent claimers of one epoch never get the same row.
std::vector<OutboxMessage> claim_outbox(pg::Connection& conn, const WriteFence& fence, int limit);

// Gives a claimed, still queued row back (a send that failed transiently), so a later claim of
// this epoch picks it up again. Fenced.
void release_outbox(pg::Connection& conn, const WriteFence& fence, const std::string& id);

// Rows of these accounts the server has not acked yet (status queued), for the outbox backlog gauge.
std::int64_t count_unacked_outbox(pg::Connection& conn, const std::vector<std::string>& business_ids);

// A leader's outbox sweep over every account it leads, in one statement (issue 10: the sweep
// wakes only the accounts that have something to claim, instead of each account claiming).
using OutboxLease = AccountEpoch;  // the lease epoch the account is led under
struct OutboxBacklog {
  std::set<std::string> claimable;  // accounts with queued rows not yet claimed under their lease
  std::int64_t queued = 0;          // queued rows of all the accounts (count_unacked_outbox)
};
OutboxBacklog outbox_backlog(pg::Connection& conn, const std::vector<OutboxLease>& leases);

// Moves the row forward to `status` (sent, delivered, read; or failed with `error`). Returns false
// (nothing changed) when the row is already at or beyond it, is failed, or does not exist: a late
// receipt never moves a status back. `failed` applies only to queued or sent rows. Fenced.
bool advance_outbox(pg::Connection& conn, const WriteFence& fence, const std::string& id,
                    std::string_view status, const std::optional<std::string>& error = std::nullopt);

}  // namespace wa::store
