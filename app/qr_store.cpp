#include "app/qr_store.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace wa::app {
namespace {

// A text[] literal; every element double-quoted with \ and " escaped, so any id is safe.
std::string text_array(const std::vector<std::string>& v) {
  std::string out = "{";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : v[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

PairCodeRequest request_from_row(const pg::Result& r, int row) {
  PairCodeRequest q;
  q.id = r.i64(row, 0);
  q.business_id = std::string(r.text(row, 1));
  q.phone = std::string(r.text(row, 2));
  q.show_push_notification = r.boolean(row, 3);
  q.state = std::string(r.text(row, 4));
  q.code = r.opt(row, 5);
  q.error = r.opt(row, 6);
  q.answered_by = r.opt(row, 7);
  return q;
}

struct NotifyDeleter {
  void operator()(PGnotify* n) const { PQfreemem(n); }
};

constexpr const char* kRequestColumns =
    "id, business_id, phone, show_push_notification, state, code, error, answered_by";

}  // namespace

std::optional<PairingState> read_pairing_state(pg::Connection& conn, const std::string& business_id) {
  // clock_timestamp(): the expiry is judged at read time, also inside a long transaction.
  auto r = conn.exec(fmt::format("read pairing state of business {}", business_id),
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
  s.business_id = std::string(r.text(0, 0));
  s.status = std::string(r.text(0, 1));
  s.jid = r.opt(0, 2);
  s.qr = r.opt(0, 3);
  if (!r.is_null(0, 4)) s.expires_at_ms = r.i64(0, 4);
  s.db_now_ms = r.i64(0, 5);
  return s;
}

bool reset_logged_out_for_pairing(pg::Connection& conn, const std::string& business_id) {
  pg::Transaction tx(conn, fmt::format("relink business {}", business_id));
  auto r = conn.exec(fmt::format("reset logged-out business {} for pairing", business_id),
                     "UPDATE wa_accounts SET lease_epoch = lease_epoch + 1, jid = NULL,"
                     " lock_key = wa_lock_key(NULL, business_id), status = 'disconnected',"
                     " qr_code = NULL, qr_expires_at = NULL, updated_at = now()"
                     " WHERE business_id = $1 AND status = 'logged_out' RETURNING business_id",
                     {business_id});
  if (r.rows() == 0) return false;
  conn.exec(fmt::format("drop device keys of business {}", business_id),
            "DELETE FROM whatsmeow_device WHERE business_id = $1", {business_id});
  tx.commit();
  return true;
}

std::int64_t insert_pair_code_request(pg::Connection& conn, const std::string& business_id,
                                      const std::string& phone_digits, bool show_push_notification) {
  auto r = conn.exec(fmt::format("insert pair-code request for business {}", business_id),
                     "INSERT INTO wa_pair_code_requests (business_id, phone, show_push_notification)"
                     " VALUES ($1, $2, $3) RETURNING id",
                     {business_id, phone_digits, show_push_notification});
  return r.i64(0, 0);
}

std::optional<PairCodeRequest> get_pair_code_request(pg::Connection& conn, std::int64_t id) {
  auto r = conn.exec(fmt::format("read pair-code request {}", id),
                     fmt::format("SELECT {} FROM wa_pair_code_requests WHERE id = $1", kRequestColumns).c_str(), {id});
  if (r.rows() == 0) return std::nullopt;
  return request_from_row(r, 0);
}

std::vector<PairCodeRequest> pending_pair_code_requests(pg::Connection& conn,
                                                        const std::vector<std::string>& business_ids,
                                                        std::int64_t max_age_ms) {
  if (business_ids.empty()) return {};
  const auto ids = text_array(business_ids);
  conn.exec("expire stale pair-code requests",
            "UPDATE wa_pair_code_requests SET state = 'failed', error = 'expired before a leader answered',"
            " answered_at = clock_timestamp()"
            " WHERE state = 'pending' AND business_id = ANY($1::text[])"
            "   AND requested_at < clock_timestamp() - make_interval(secs => $2::bigint / 1000.0)",
            {ids, max_age_ms});
  auto r = conn.exec("list pending pair-code requests",
                     fmt::format("SELECT {} FROM wa_pair_code_requests"
                                 " WHERE state = 'pending' AND business_id = ANY($1::text[]) ORDER BY id",
                                 kRequestColumns)
                         .c_str(),
                     {ids});
  std::vector<PairCodeRequest> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(request_from_row(r, i));
  return out;
}

bool answer_pair_code_request(pg::Connection& conn, std::int64_t id, const std::string& pod, const std::string& code) {
  auto r = conn.exec(fmt::format("answer pair-code request {}", id),
                     "UPDATE wa_pair_code_requests SET state = 'answered', code = $2, answered_by = $3,"
                     " answered_at = clock_timestamp() WHERE id = $1 AND state = 'pending' RETURNING id",
                     {id, code, pod});
  return r.rows() == 1;
}

bool fail_pair_code_request(pg::Connection& conn, std::int64_t id, const std::string& pod, const std::string& error) {
  auto r = conn.exec(fmt::format("fail pair-code request {}", id),
                     "UPDATE wa_pair_code_requests SET state = 'failed', error = left($2, 500), answered_by = $3,"
                     " answered_at = clock_timestamp() WHERE id = $1 AND state = 'pending' RETURNING id",
                     {id, error, pod});
  return r.rows() == 1;
}

bool wait_for_notify(pg::Connection& conn, std::chrono::milliseconds timeout, int wake_fd) {
  pollfd p[2] = {{conn.socket(), POLLIN, 0}, {wake_fd, POLLIN, 0}};
  const int n = ::poll(p, wake_fd >= 0 ? 2 : 1, static_cast<int>(std::clamp<std::int64_t>(timeout.count(), 0, 3600000)));
  if (n < 0 && errno != EINTR)
    throw pg::Error(fmt::format("wait for notifications: poll: {}", std::strerror(errno)), "");
  if (PQconsumeInput(conn.raw()) == 0)
    throw pg::Error(fmt::format("wait for notifications: {}", PQerrorMessage(conn.raw())), "08006")
        .set_connection_lost(true);
  bool any = false;
  while (std::unique_ptr<PGnotify, NotifyDeleter> note{PQnotifies(conn.raw())}) any = true;
  return any;
}

PgConnectionPool::PgConnectionPool(std::string url, std::string application_name, std::size_t max_idle)
    : url_(std::move(url)), application_name_(std::move(application_name)), max_idle_(max_idle) {}

pg::Connection PgConnectionPool::acquire() {
  {
    std::lock_guard lk(mu_);
    while (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      if (c.ok()) return c;
    }
  }
  // Bounded: HTTP requests time out after 2 s, so a dead database must fail faster than that
  // (libpq's minimum connect_timeout is 2 s; the statement timeout bounds a hung server).
  return pg::Connection::open(url_, application_name_,
                              {{"application_name", application_name_},
                               {"connect_timeout", "2"},
                               {"options", "-c statement_timeout=1500"}});
}

void PgConnectionPool::release(pg::Connection c) {
  if (!c.ok()) return;
  std::lock_guard lk(mu_);
  if (idle_.size() < max_idle_) idle_.push_back(std::move(c));
}

}  // namespace wa::app
