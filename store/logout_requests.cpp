#include "store/logout_requests.h"

#include <fmt/format.h>

#include "store/errors.h"

namespace wa::store {

std::int64_t request_logout(pg::Connection& conn, const std::string& business_id) {
  const auto purpose = fmt::format("request logout of business {}", business_id);
  const pg::TenantScope scope(conn, business_id);
  auto r = conn.exec(purpose,
                     "INSERT INTO wa_logout_requests (business_id)"
                     " SELECT business_id FROM wa_accounts WHERE business_id = $1 RETURNING id",
                     {business_id});
  if (r.rows() == 0) throw NotFound(fmt::format("business {} is not registered", business_id));
  return r.i64(0, 0);
}

std::optional<LogoutRequest> get_logout_request(pg::Connection& conn, const std::string& business_id,
                                                std::int64_t id) {
  const pg::TenantScope scope(conn, business_id);
  auto r = conn.exec(fmt::format("read logout request of business {}", business_id),
                     "SELECT id, business_id, state, error FROM wa_logout_requests WHERE business_id = $1 AND id = $2",
                     {business_id, id});
  if (r.rows() == 0) return std::nullopt;
  return LogoutRequest{r.i64(0, 0), std::string(r.text(0, 1)), std::string(r.text(0, 2)), r.opt(0, 3)};
}

std::vector<LogoutRequest> pending_logouts(pg::Connection& conn, const std::vector<std::string>& business_ids,
                                           std::int64_t max_age_ms) {
  std::vector<LogoutRequest> out;
  if (business_ids.empty()) return out;
  const pg::TenantScope scope(conn, business_ids);
  // The expiry and the read in one statement: the SELECT sees the rows as they were before the
  // UPDATE (one snapshot), so the requests it just failed are left out by id.
  auto r = conn.exec(
      fmt::format("read pending logouts of {} businesses", business_ids.size()),
      "WITH expired AS ("
      " UPDATE wa_logout_requests SET state = 'failed', error = 'no leader answered in time', finished_at = now()"
      " WHERE business_id = ANY($1::text[]) AND state = 'pending'"
      " AND created_at < now() - ($2::bigint * interval '1 millisecond') RETURNING id)"
      " SELECT id, business_id, state, error FROM wa_logout_requests"
      " WHERE business_id = ANY($1::text[]) AND state = 'pending' AND id NOT IN (SELECT id FROM expired)"
      " ORDER BY business_id, id",
      {pg::Param::array(business_ids), max_age_ms});
  for (int i = 0; i < r.rows(); ++i)
    out.push_back({r.i64(i, 0), std::string(r.text(i, 1)), std::string(r.text(i, 2)), r.opt(i, 3)});
  return out;
}

void finish_logout(pg::Connection& conn, const std::string& business_id, std::int64_t id, bool done,
                   const std::optional<std::string>& error) {
  const pg::TenantScope scope(conn, business_id);
  conn.exec(fmt::format("record logout outcome of business {}", business_id),
            "UPDATE wa_logout_requests SET state = $3, error = $4, finished_at = now()"
            " WHERE business_id = $1 AND id = $2 AND state = 'pending'",
            {business_id, id, std::string(done ? "done" : "failed"), pg::Param(error)});
}

}  // namespace wa::store
