// The durable inbox (wa_inbox): decrypted incoming messages, each stored in the transaction that
// decrypted it, deduplicated by ciphertext hash, listed with a stable cursor.
//
// Why the cursor cannot skip a row: `seq` is not a PostgreSQL sequence (sequence values are handed
// out at nextval time but become visible at commit time, so seq 7 can be visible while seq 6 is still
// in flight; a reader that saw 7 and moved its cursor past 6 would never see 6). Instead each insert
// increments the account's counter row in wa_inbox_cursors and keeps that row locked until its
// transaction ends. The next insert of the account waits for that lock, i.e. for the previous insert
// to commit (and become visible) or roll back (and give its number back). So rows become visible in
// seq order with no holes: when a reader sees seq N, every row below N that will ever exist is
// already visible, and `after = N` never misses one. The price is that one account's inserts are
// serialised, which they already are (only the account's leader decrypts, on one connection).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/pg.h"

namespace wa::store {

struct InboxMessage {
  std::int64_t seq = 0;
  std::string id;                             // the WhatsApp message id
  std::string chat;                           // the sender's user JID for 1:1, the group JID for groups
  std::string sender;                         // the sender's JID as it arrived (may name a device)
  std::string message_type = "text";          // "text", or the raw type of a message we do not decode
  std::optional<std::string> text;            // set for "text"
  std::int64_t server_ts = 0;                 // unix seconds, the server's `t`
  std::vector<std::uint8_t> ciphertext_hash;  // SHA-256 of the <enc> payload (32 bytes)
};

// SHA-256 of a ciphertext, the inbox's dedup key.
std::vector<std::uint8_t> ciphertext_hash(const std::uint8_t* data, std::size_t size);

// Inserts `m` (seq is assigned) for `business_id` on `tx`, which must be inside an open transaction
// (e.g. PgSignalStore::transaction's); the counter row stays locked until that transaction ends.
// Invalid UTF-8 and NUL in the text fields are stored as U+FFFD. Returns the assigned seq, or nullopt when
// the message is already stored (same ciphertext hash, or same chat/sender/id): nothing is written then.
std::optional<std::int64_t> insert_inbox(pg::Connection& tx, const std::string& business_id,
                                         const InboxMessage& m);

// The stored message with this ciphertext hash, if any (a redelivery: ack it, do not decrypt).
std::optional<InboxMessage> find_inbox_by_hash(pg::Connection& conn, const std::string& business_id,
                                               const std::vector<std::uint8_t>& hash);

// Up to `limit` messages with seq > `after`, in seq order. Page on with after = last seq returned.
std::vector<InboxMessage> list_inbox(pg::Connection& conn, const std::string& business_id, std::int64_t after,
                                     int limit);

}  // namespace wa::store
