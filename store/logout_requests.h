// Log-out requests (wa_logout_requests, migration 0012): the API inserts one on any pod; the
// account's leader answers it (app/api/logout_responder.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/fenced_write.h"
#include "store/pg.h"

namespace wa::store {

struct LogoutRequest {
  std::int64_t id = 0;
  std::string business_id;
  std::string state;  // pending | done | failed
  std::optional<std::string> error;
};

// Queues a log-out of the account; returns the request id. Throws NotFound (unknown business).
std::int64_t request_logout(pg::Connection& conn, const std::string& business_id);
std::optional<LogoutRequest> get_logout_request(pg::Connection& conn, const std::string& business_id,
                                                std::int64_t id);
// The pending requests of `business_ids` (the accounts a pod leads) younger than `max_age_ms`,
// ordered by account and id; older ones are failed in the same statement. One statement for all
// the accounts (issue 10: a pod's poll does not grow with the accounts it leads); none when the
// list is empty.
std::vector<LogoutRequest> pending_logouts(pg::Connection& conn, const std::vector<std::string>& business_ids,
                                           std::int64_t max_age_ms);
// Records the outcome of a pending request (not fenced: a logout ends the lease that asked, so the
// answer is written after it; only a pending row changes).
void finish_logout(pg::Connection& conn, const std::string& business_id, std::int64_t id, bool done,
                   const std::optional<std::string>& error);

}  // namespace wa::store
