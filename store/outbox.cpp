#include "store/outbox.h"

#include "store/row.h"
#include "store/utf8.h"

#include <fmt/format.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <stdexcept>

namespace wa::store {

namespace {

constexpr const char* kColumns =
    "business_id, id, recipient, text, status, error, attempts, claimed_epoch, idempotency_key,"
    " (extract(epoch FROM created_at) * 1000)::bigint, (extract(epoch FROM updated_at) * 1000)::bigint,"
    " reply_to, reply_to_sender, reply_to_text";

std::string select_sql(const char* rest) {
  return std::string("SELECT ") + kColumns + " FROM wa_outbox " + rest;
}

OutboxMessage row(const pg::Result& r, int i) {
  OutboxMessage m;
  pg::read_row(r, i, m.business_id, m.id, m.recipient, m.text, m.status, m.error, m.attempts, m.claimed_epoch,
               m.idempotency_key, m.created_at_ms, m.updated_at_ms, m.reply_to, m.reply_to_sender, m.reply_to_text);
  return m;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// The check every leader write of the outbox starts with (see fenced_write.h).
void fence_check(pg::Connection& conn, const WriteFence& fence, std::string_view purpose) {
  if (fence.revoked())
    refuse_write(fence.business_id(), fence.epoch(), std::nullopt, purpose, fence.refused_counter());
  check_epoch(conn, fence.business_id(), fence.epoch(), purpose, fence.refused_counter());
}

}  // namespace

std::string validate_recipient(std::string_view jid) {
  const auto at = jid.find('@');
  if (at == std::string_view::npos || at == 0)
    return "recipient must be a JID such as 15551234567@s.whatsapp.net or 120363012345678901@g.us";
  const auto user = jid.substr(0, at);
  const auto server = jid.substr(at + 1);
  if (server != "s.whatsapp.net" && server != "lid" && server != "g.us")
    return "recipient server must be s.whatsapp.net, lid or g.us";
  if (user.find(':') != std::string_view::npos || user.find('_') != std::string_view::npos)
    return "recipient must be a user or group JID without a device (no ':N')";
  const bool group = server == "g.us";
  if (user.size() > 64 ||
      !std::all_of(user.begin(), user.end(), [&](char c) { return is_digit(c) || (group && c == '-'); }))
    return group ? "group JID user must be digits (and '-')"
                 : "recipient user (before '@') must be 1-64 digits";
  return {};
}

std::string validate_text(std::string_view text) {
  if (text.empty()) return "text is empty";
  if (text.find('\0') != std::string_view::npos) return "text contains a NUL character";
  const auto n = utf8_length(text);
  if (!n) return "text is not valid UTF-8";
  if (*n > kMaxTextChars) return fmt::format("text has {} characters; the limit is {}", *n, kMaxTextChars);
  return {};
}

std::string validate_message_id(std::string_view id) {
  if (id.empty() || id.size() > 64 || !std::all_of(id.begin(), id.end(), [](char c) {
        return is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-' || c == '_' ||
               c == '.';
      }))
    return "message id must be 1-64 of A-Z a-z 0-9 - _ .";
  return {};
}

std::string new_message_id() {
  std::array<unsigned char, 9> b{};
  if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1)
    throw std::runtime_error("no randomness for a message id");
  std::string id = "3EB0";
  for (auto c : b) id += fmt::format("{:02X}", c);
  return id;
}

Enqueued enqueue(pg::Connection& conn, const EnqueueRequest& req) {
  pg::TenantScope tenant(conn, req.business_id);
  if (auto e = validate_recipient(req.recipient); !e.empty()) throw InvalidMessage(e);
  if (auto e = validate_text(req.text); !e.empty()) throw InvalidMessage(e);
  if (req.id)
    if (auto e = validate_message_id(*req.id); !e.empty()) throw InvalidMessage(e);
  if (req.idempotency_key && (req.idempotency_key->empty() || req.idempotency_key->size() > 255))
    throw InvalidMessage("idempotency key must be 1-255 characters");
  const auto purpose = fmt::format("queue message for business {}", req.business_id);
  pg::Transaction tx(conn, purpose);
  // FOR SHARE: the account cannot be deleted under the insert.
  if (conn.exec(purpose, "SELECT 1 FROM wa_accounts WHERE business_id = $1 FOR SHARE", {req.business_id})
          .rows() == 0)
    throw NotFound(fmt::format("business {} is not registered", req.business_id));
  const auto by_key = [&]() -> std::optional<OutboxMessage> {
    if (!req.idempotency_key) return std::nullopt;
    auto r = conn.exec(purpose, select_sql("WHERE business_id = $1 AND idempotency_key = $2").c_str(),
                       {req.business_id, *req.idempotency_key});
    if (r.rows() == 0) return std::nullopt;
    return row(r, 0);
  };
  const auto earlier = [&](OutboxMessage prior) {
    const bool same = prior.recipient == req.recipient && prior.text == req.text && prior.reply_to == req.reply_to;
    return Enqueued{std::move(prior), false, same};
  };
  if (auto prior = by_key()) {
    tx.commit();
    return earlier(std::move(*prior));
  }
  const auto id = req.id ? *req.id : new_message_id();
  // A reply quotes a message of this account: one it received, or one it sent. The author is the
  // user JID (device dropped), as WhatsApp's apps put it in contextInfo.participant.
  std::optional<std::string> quote_sender, quote_text;
  if (req.reply_to) {
    auto q = conn.exec(purpose,
                       "SELECT regexp_replace(sender, '(\\.[0-9]+)?(:[0-9]+)?@', '@'), coalesce(text, '')"
                       " FROM wa_inbox WHERE business_id = $1 AND id = $2"
                       " UNION ALL SELECT regexp_replace(coalesce(a.jid, ''), '(\\.[0-9]+)?(:[0-9]+)?@', '@'), o.text"
                       " FROM wa_outbox o JOIN wa_accounts a ON a.business_id = o.business_id"
                       " WHERE o.business_id = $1 AND o.id = $2 LIMIT 1",
                       {req.business_id, *req.reply_to});
    if (q.rows() == 0)
      throw InvalidMessage(fmt::format("reply_to {} names no message of this account", *req.reply_to));
    quote_sender = std::string(q.text(0, 0));
    quote_text = std::string(q.text(0, 1));
  }
  auto r = conn.exec(purpose,
                     (std::string("INSERT INTO wa_outbox (business_id, id, recipient, text, idempotency_key, reply_to,"
                                  " reply_to_sender, reply_to_text)"
                                  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING ") +
                      kColumns)
                         .c_str(),
                     {req.business_id, id, req.recipient, req.text, pg::Param(req.idempotency_key),
                      pg::Param(req.reply_to), pg::Param(quote_sender), pg::Param(quote_text)});
  if (r.rows() == 0) {
    // A concurrent request with the same key won the race, or the id is taken.
    if (auto prior = by_key()) {
      tx.commit();
      return earlier(std::move(*prior));
    }
    throw AlreadyExists(fmt::format("message id {} already exists for business {}", id, req.business_id));
  }
  auto m = row(r, 0);
  tx.commit();
  return {std::move(m), true, true};
}

std::optional<OutboxMessage> find_outbox(pg::Connection& conn, const std::string& business_id,
                                         const std::string& id) {
  pg::TenantScope tenant(conn, business_id);
  auto r = conn.exec(fmt::format("look up outbox message of business {}", business_id),
                     select_sql("WHERE business_id = $1 AND id = $2").c_str(), {business_id, id});
  if (r.rows() == 0) return std::nullopt;
  return row(r, 0);
}

std::vector<OutboxMessage> claim_outbox(pg::Connection& conn, const WriteFence& fence, int limit) {
  pg::TenantScope tenant(conn, fence.business_id());
  std::vector<OutboxMessage> out;
  if (limit <= 0) return out;
  const auto purpose = fmt::format("claim outbox of business {}", fence.business_id());
  pg::Transaction tx(conn, purpose);
  fence_check(conn, fence, purpose);
  // SKIP LOCKED: a row another claimer is stamping right now is left to it; once that claimer
  // commits, the row carries this epoch and no longer matches.
  auto r = conn.exec(
      purpose,
      (std::string("UPDATE wa_outbox SET claimed_epoch = $2::bigint, attempts = attempts + 1,"
                   " updated_at = now() WHERE (business_id, id) IN ("
                   " SELECT business_id, id FROM wa_outbox WHERE business_id = $1 AND status = 'queued'"
                   " AND (claimed_epoch IS NULL OR claimed_epoch < $2::bigint)"
                   " ORDER BY created_at, id LIMIT $3::int FOR UPDATE SKIP LOCKED) RETURNING ") +
       kColumns)
          .c_str(),
      {fence.business_id(), fence.epoch(), limit});
  tx.commit();
  for (int i = 0; i < r.rows(); ++i) out.push_back(row(r, i));
  std::sort(out.begin(), out.end(), [](const OutboxMessage& a, const OutboxMessage& b) {
    return a.created_at_ms != b.created_at_ms ? a.created_at_ms < b.created_at_ms : a.id < b.id;
  });
  return out;
}

void release_outbox(pg::Connection& conn, const WriteFence& fence, const std::string& id) {
  pg::TenantScope tenant(conn, fence.business_id());
  const auto purpose = fmt::format("release outbox message of business {}", fence.business_id());
  pg::Transaction tx(conn, purpose);
  fence_check(conn, fence, purpose);
  conn.exec(purpose,
            "UPDATE wa_outbox SET claimed_epoch = NULL, updated_at = now()"
            " WHERE business_id = $1 AND id = $2 AND status = 'queued' AND claimed_epoch = $3::bigint",
            {fence.business_id(), id, fence.epoch()});
  tx.commit();
}

bool advance_outbox(pg::Connection& conn, const WriteFence& fence, const std::string& id,
                    std::string_view status, const std::optional<std::string>& error) {
  pg::TenantScope tenant(conn, fence.business_id());
  static constexpr std::array<std::string_view, 4> kOrder = {"queued", "sent", "delivered", "read"};
  const bool failed = status == "failed";
  if (!failed && std::find(kOrder.begin() + 1, kOrder.end(), status) == kOrder.end())
    throw std::invalid_argument(fmt::format("'{}' is not an outbox status to advance to", status));
  const auto purpose = fmt::format("set outbox status {} for business {}", status, fence.business_id());
  pg::Transaction tx(conn, purpose);
  fence_check(conn, fence, purpose);
  // The order is in the SQL so that the comparison happens against the row as locked by UPDATE.
  const char* sql = failed ? "UPDATE wa_outbox SET status = 'failed', error = $3, updated_at = now()"
                             " WHERE business_id = $1 AND id = $2 AND status IN ('queued', 'sent')"
                           : "UPDATE wa_outbox SET status = $3, updated_at = now()"
                             " WHERE business_id = $1 AND id = $2 AND status <> 'failed'"
                             " AND array_position(ARRAY['queued','sent','delivered','read'], status)"
                             "   < array_position(ARRAY['queued','sent','delivered','read'], $3::text)";
  auto r =
      failed ? conn.exec(purpose, sql, {fence.business_id(), id, pg::Param(error.value_or("unknown error"))})
             : conn.exec(purpose, sql, {fence.business_id(), id, std::string(status)});
  const bool changed = PQcmdTuples(r.get())[0] != '0';
  tx.commit();
  return changed;
}

std::int64_t count_unacked_outbox(pg::Connection& conn, const std::vector<std::string>& business_ids) {
  return pg::count_in_businesses(
      conn, "count unacked outbox rows",
      "SELECT count(*) FROM wa_outbox WHERE business_id = ANY($1::text[]) AND status = 'queued'", business_ids);
}

OutboxBacklog outbox_backlog(pg::Connection& conn, const std::vector<OutboxLease>& leases) {
  OutboxBacklog out;
  if (leases.empty()) return out;
  const auto [ids, epochs] = to_arrays(leases);
  pg::TenantScope tenant(conn, ids);
  // The claim's own condition (claim_outbox), per account with its epoch; the partial index on
  // queued rows keeps an idle fleet's answer (no rows) cheap.
  auto r = conn.exec(fmt::format("outbox backlog of {} businesses", ids.size()),
                     "SELECT l.b, count(*) FILTER (WHERE o.claimed_epoch IS NULL OR o.claimed_epoch < l.e), count(*)"
                     " FROM unnest($1::text[], $2::bigint[]) AS l(b, e)"
                     " JOIN wa_outbox o ON o.business_id = l.b AND o.status = 'queued' GROUP BY l.b",
                     {pg::Param::array(ids), pg::Param::array(epochs)});
  for (int i = 0; i < r.rows(); ++i) {
    if (r.i64(i, 1) > 0) out.claimable.emplace(r.text(i, 0));
    out.queued += r.i64(i, 2);
  }
  return out;
}

}  // namespace wa::store
