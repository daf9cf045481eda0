#include "store/pairing.h"

#include <fmt/format.h>

#include "store/accounts.h"
#include "store/errors.h"
#include "store/row.h"

namespace wa::store {
namespace {

constexpr const char* kRequestColumns =
    "id, business_id, phone, show_push_notification, state, code, error, answered_by";

PairCodeRequest request_from_row(const pg::Result& r, int row) {
  PairCodeRequest q;
  pg::read_row(r, row, q.id, q.business_id, q.phone, q.show_push_notification, q.state, q.code, q.error,
               q.answered_by);
  return q;
}

// Settles a pending request of the fence's account (answered with `code`, or failed with
// `error`) in one transaction that first checks the fence's epoch.
bool settle_fenced(pg::Connection& conn, const WriteFence& fence, std::int64_t id, const std::string& pod,
                   const std::optional<std::string>& code, const std::optional<std::string>& error) {
  bool settled = false;
  const auto purpose = fmt::format("{} pair-code request {}", code ? "answer" : "fail", id);
  fence.write(conn, purpose, [&](pg::Connection& tx) {
    auto r = tx.exec(purpose,
                     "UPDATE wa_pair_code_requests SET state = CASE WHEN $2::text IS NULL THEN 'failed' ELSE "
                     "'answered' END,"
                     " code = $2, error = left($3, 500), answered_by = $4, answered_at = clock_timestamp()"
                     " WHERE id = $1::bigint AND business_id = $5 AND state = 'pending' RETURNING id",
                     {id, pg::Param(code), pg::Param(error), pod, fence.business_id()});
    settled = r.rows() == 1;
    if (settled) return;
    auto owner = tx.exec(fmt::format("{}: read its account", purpose),
                         "SELECT business_id FROM wa_pair_code_requests WHERE id = $1::bigint", {id});
    if (owner.rows() == 1 && owner.text(0, 0) != fence.business_id())
      throw StoreError(fmt::format("{}: the request belongs to business {}, not to {}", purpose,
                                   owner.text(0, 0), fence.business_id()));
  });
  return settled;
}

}  // namespace

std::optional<PairingState> read_pairing_state(pg::Connection& conn, const std::string& business_id) {
  pg::TenantScope tenant(conn, business_id);
  // clock_timestamp(): the expiry is judged at read time, also inside a long transaction.
  auto r =
      conn.exec(fmt::format("read pairing state of business {}", business_id),
                "WITH n AS (SELECT clock_timestamp() AS now)"
                " SELECT a.business_id, a.status, a.jid,"
                "  CASE WHEN a.qr_code IS NOT NULL AND (a.qr_expires_at IS NULL OR a.qr_expires_at > n.now)"
                "       THEN a.qr_code END,"
                "  CASE WHEN a.qr_code IS NOT NULL AND a.qr_expires_at > n.now"
                "       THEN (extract(epoch FROM a.qr_expires_at) * 1000)::bigint END,"
                "  (extract(epoch FROM n.now) * 1000)::bigint"
                " FROM wa_accounts a, n WHERE a.business_id = $1",
                {business_id});
  if (r.rows() == 0) return std::nullopt;
  PairingState s;
  pg::read_row(r, 0, s.business_id, s.status, s.jid, s.qr, s.expires_at_ms, s.db_now_ms);
  return s;
}

bool reset_logged_out_for_pairing(pg::Connection& conn, const std::string& business_id) {
  pg::TenantScope tenant(conn, business_id);
  pg::Transaction tx(conn, fmt::format("relink business {}", business_id));
  auto cur = conn.exec(fmt::format("relink: read the account of business {}", business_id),
                       "SELECT status, lease_epoch FROM wa_accounts WHERE business_id = $1", {business_id});
  if (cur.rows() == 0 || cur.text(0, 0) != "logged_out") return false;
  // The registry's own path: lock key back to the pairing key, collision-checked, under the
  // registry lock; refused if a lease began since the read above.
  set_jid_in_transaction(conn, business_id, cur.i64(0, 1), std::nullopt);
  auto r = conn.exec(fmt::format("reset logged-out business {} for pairing", business_id),
                     (std::string("UPDATE wa_accounts SET lease_epoch = ") + kNextLeaseEpochSql +
                      ", status = 'disconnected', qr_code = NULL, qr_expires_at = NULL, updated_at = now()"
                      " WHERE business_id = $1 AND status = 'logged_out' RETURNING business_id")
                         .c_str(),
                     {business_id});
  if (r.rows() == 0) return false;  // paired again meanwhile: roll back
  conn.exec(fmt::format("drop the removed device of business {}", business_id),
            "DELETE FROM wa_devices WHERE business_id = $1", {business_id});
  end_pairing_in_transaction(conn, business_id, "relinked");
  tx.commit();
  return true;
}

std::vector<Pairing> pairing_history(pg::Connection& conn, const std::string& business_id) {
  pg::TenantScope tenant(conn, business_id);
  auto r = conn.exec(fmt::format("read the pairing history of business {}", business_id),
                     "SELECT jid, epoch, pod, (extract(epoch FROM paired_at) * 1000)::bigint,"
                     " (extract(epoch FROM ended_at) * 1000)::bigint, end_reason"
                     " FROM wa_pairings WHERE business_id = $1 ORDER BY id",
                     {business_id});
  return pg::read_rows_into<Pairing>(r, &Pairing::jid, &Pairing::epoch, &Pairing::pod, &Pairing::paired_at_ms,
                                     &Pairing::ended_at_ms, &Pairing::end_reason);
}

void end_pairing_in_transaction(pg::Connection& conn, const std::string& business_id, const char* reason) {
  pg::TenantScope tenant(conn, business_id);
  conn.exec(fmt::format("end the current pairing of business {}", business_id),
            "UPDATE wa_pairings SET ended_at = clock_timestamp(), end_reason = $2"
            " WHERE business_id = $1 AND ended_at IS NULL",
            {business_id, reason});
}

void record_pairing_in_transaction(pg::Connection& conn, const std::string& business_id,
                                   const std::string& jid, std::int64_t epoch) {
  pg::TenantScope tenant(conn, business_id);
  end_pairing_in_transaction(conn, business_id, "paired_again");
  conn.exec(fmt::format("record the pairing of business {}", business_id),
            "INSERT INTO wa_pairings (business_id, jid, epoch, pod)"
            " SELECT business_id, $2, $3::bigint, assigned_pod FROM wa_accounts WHERE business_id = $1",
            {business_id, jid, epoch});
}

std::int64_t insert_pair_code_request(pg::Connection& conn, const std::string& business_id,
                                      const std::string& phone_digits, bool show_push_notification) {
  pg::TenantScope tenant(conn, business_id);
  auto r = conn.exec(fmt::format("insert pair-code request for business {}", business_id),
                     "INSERT INTO wa_pair_code_requests (business_id, phone, show_push_notification)"
                     " VALUES ($1, $2, $3) RETURNING id",
                     {business_id, phone_digits, show_push_notification});
  return r.i64(0, 0);
}

std::optional<PairCodeRequest> get_pair_code_request(pg::Connection& conn, std::int64_t id) {
  auto r = conn.exec(
      fmt::format("read pair-code request {}", id),
      fmt::format("SELECT {} FROM wa_pair_code_requests WHERE id = $1", kRequestColumns).c_str(), {id});
  if (r.rows() == 0) return std::nullopt;
  return request_from_row(r, 0);
}

std::vector<PairCodeRequest> pending_pair_code_requests(pg::Connection& conn,
                                                        const std::vector<std::string>& business_ids,
                                                        std::int64_t max_age_ms) {
  pg::TenantScope tenant(conn, business_ids);
  if (business_ids.empty()) return {};
  auto r = conn.exec(
      "list pending pair-code requests",
      fmt::format("SELECT {}, requested_at < clock_timestamp() - make_interval(secs => $2::bigint / 1000.0)"
                  " FROM wa_pair_code_requests"
                  " WHERE state = 'pending' AND business_id = ANY($1::text[]) ORDER BY id",
                  kRequestColumns)
          .c_str(),
      {pg::Param::array(business_ids), max_age_ms});
  return pg::read_rows<PairCodeRequest>(r, [](const pg::Result& res, int i) {
    PairCodeRequest q = request_from_row(res, i);
    q.expired = res.boolean(i, 8);  // the column after kRequestColumns
    return q;
  });
}

bool answer_pair_code_request(pg::Connection& conn, const WriteFence& fence, std::int64_t id,
                              const std::string& pod, const std::string& code) {
  return settle_fenced(conn, fence, id, pod, code, std::nullopt);
}

bool fail_pair_code_request(pg::Connection& conn, const WriteFence& fence, std::int64_t id,
                            const std::string& pod, const std::string& error) {
  return settle_fenced(conn, fence, id, pod, std::nullopt, error);
}

bool withdraw_pair_code_request(pg::Connection& conn, std::int64_t id, const std::string& why) {
  auto r = conn.exec(
      fmt::format("withdraw pair-code request {}", id),
      "UPDATE wa_pair_code_requests SET state = 'failed', error = left($2, 500), answered_by = 'cli',"
      " answered_at = clock_timestamp() WHERE id = $1 AND state = 'pending' RETURNING id",
      {id, why});
  return r.rows() == 1;
}

}  // namespace wa::store
