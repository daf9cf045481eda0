#include "store/inbox.h"

#include "store/row.h"
#include "store/utf8.h"

#include <fmt/format.h>
#include <openssl/sha.h>

#include <stdexcept>

namespace wa::store {

namespace {

constexpr const char* kColumns = "seq, id, chat, sender, message_type, text, server_ts, ciphertext_hash";

InboxMessage row(const pg::Result& r, int i) {
  InboxMessage m;
  pg::read_row(r, i, m.seq, m.id, m.chat, m.sender, m.message_type, m.text, m.server_ts, m.ciphertext_hash);
  return m;
}

}  // namespace

std::vector<std::uint8_t> ciphertext_hash(const std::uint8_t* data, std::size_t size) {
  std::vector<std::uint8_t> out(SHA256_DIGEST_LENGTH);
  SHA256(data, size, out.data());
  return out;
}

std::optional<std::int64_t> insert_inbox(pg::Connection& tx, const std::string& business_id,
                                         const InboxMessage& raw) {
  pg::TenantScope tenant(tx, business_id);
  // The fields come from the wire: text PostgreSQL would refuse must not make the decryption's
  // transaction fail (the message would be redelivered and refused forever).
  InboxMessage m = raw;
  for (auto* f : {&m.id, &m.chat, &m.sender, &m.message_type}) *f = repair_utf8(*f);
  if (m.text) m.text = repair_utf8(*m.text);
  if (m.ciphertext_hash.size() != 32)
    throw std::invalid_argument("inbox message needs a 32-byte ciphertext hash");
  const auto purpose = fmt::format("store inbox message for business {}", business_id);
  // A redelivery must not take a number (or the counter lock) at all.
  auto dup = tx.exec(purpose,
                     "SELECT 1 FROM wa_inbox WHERE business_id = $1"
                     " AND (ciphertext_hash = $2 OR (chat = $3 AND sender = $4 AND id = $5))",
                     {business_id, pg::Param::bytes(m.ciphertext_hash), m.chat, m.sender, m.id});
  if (dup.rows() > 0) return std::nullopt;
  // The counter row lock orders the account's inserts by commit (see inbox.h).
  auto seq = tx.exec(purpose,
                     "INSERT INTO wa_inbox_cursors (business_id, last_seq) VALUES ($1, 1)"
                     " ON CONFLICT (business_id) DO UPDATE SET last_seq = wa_inbox_cursors.last_seq + 1"
                     " RETURNING last_seq",
                     {business_id});
  const auto n = seq.i64(0, 0);
  // DO NOTHING covers a concurrent duplicate that committed after the check above.
  auto r = tx.exec(purpose,
                   "INSERT INTO wa_inbox (business_id, seq, id, chat, sender, message_type, text, server_ts,"
                   " ciphertext_hash) VALUES ($1, $2::bigint, $3, $4, $5, $6, $7, $8::bigint, $9)"
                   " ON CONFLICT DO NOTHING RETURNING seq",
                   {business_id, n, m.id, m.chat, m.sender, m.message_type, pg::Param(m.text), m.server_ts,
                    pg::Param::bytes(m.ciphertext_hash)});
  if (r.rows() == 0) return std::nullopt;
  return n;
}

std::optional<InboxMessage> find_inbox_by_hash(pg::Connection& conn, const std::string& business_id,
                                               const std::vector<std::uint8_t>& hash) {
  pg::TenantScope tenant(conn, business_id);
  auto r = conn.exec(
      fmt::format("look up inbox message by ciphertext for business {}", business_id),
      (std::string("SELECT ") + kColumns + " FROM wa_inbox WHERE business_id = $1 AND ciphertext_hash = $2")
          .c_str(),
      {business_id, pg::Param::bytes(hash)});
  if (r.rows() == 0) return std::nullopt;
  return row(r, 0);
}

std::vector<InboxMessage> list_inbox(pg::Connection& conn, const std::string& business_id, std::int64_t after,
                                     int limit) {
  pg::TenantScope tenant(conn, business_id);
  if (limit <= 0) return {};
  auto r = conn.exec(fmt::format("list inbox of business {}", business_id),
                     (std::string("SELECT ") + kColumns +
                      " FROM wa_inbox WHERE business_id = $1 AND seq > $2::bigint ORDER BY seq LIMIT $3::int")
                         .c_str(),
                     {business_id, after, limit});
  return pg::read_rows<InboxMessage>(r, row);
}

}  // namespace wa::store
