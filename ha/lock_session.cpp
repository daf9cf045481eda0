#include "ha/lock_session.h"

#include <stdexcept>

#include <fmt/format.h>

#include "common/log.h"

namespace wa::ha {

SessionSettings safe_session_settings(std::chrono::milliseconds fence_after,
                                      std::chrono::milliseconds margin) {
  SessionSettings s;
  const auto release_ms = fence_after.count() + margin.count();
  if (release_ms > 15000)
    throw std::invalid_argument(
        fmt::format("fence-after {} ms + safety margin {} ms exceeds the 15 s the database may keep a "
                    "vanished leader's lock",
                    fence_after.count(), margin.count()));
  // Linux drops the connection at the first keepalive probe tick where nothing was received for
  // tcp_user_timeout; the count only matters without a user timeout, so keep it consistent.
  s.server_tcp_user_timeout_ms = static_cast<int>(release_ms);
  s.server_keepalives_idle_s = 2;
  s.server_keepalives_interval_s = 1;
  // Same bound for a stopped (not vanished) holder: released no sooner than fence_after + margin.
  s.server_idle_session_timeout_ms = static_cast<int>(release_ms);
  s.server_keepalives_count =
      std::max(1, static_cast<int>((release_ms + 999) / 1000) - s.server_keepalives_idle_s);
  return s;
}

LockSession LockSession::open(const SessionSettings& s) {
  std::vector<std::pair<std::string, std::string>> extra{
      {"application_name", s.application_name},
      {"connect_timeout", std::to_string(s.connect_timeout_s)},
      {"keepalives", "1"},
      {"keepalives_idle", "1"},
      {"keepalives_interval", "1"},
      {"keepalives_count", "3"},
      {"tcp_user_timeout", std::to_string(s.client_tcp_user_timeout_ms)},
  };
  LockSession ls(pg::Connection::open(s.url, s.purpose, extra));
  const char* host = PQhost(ls.conn_.raw());
  ls.unix_socket_ = host == nullptr || host[0] == '/' || host[0] == '@';
  // set_config(..., false) = session scope, the same as SET; one round trip for all of them.
  ls.conn_.exec(
      fmt::format("{}: apply keepalive settings", s.purpose),
      "SELECT set_config('tcp_keepalives_idle', $1, false), set_config('tcp_keepalives_interval', $2, false),"
      " set_config('tcp_keepalives_count', $3, false), set_config('tcp_user_timeout', $4, false),"
      " set_config('client_connection_check_interval', $5, false), set_config('idle_session_timeout', $6, "
      "false),"
      " set_config('lock_timeout', $7, false), set_config('idle_in_transaction_session_timeout', $8, false)",
      {std::to_string(s.server_keepalives_idle_s), std::to_string(s.server_keepalives_interval_s),
       std::to_string(s.server_keepalives_count), std::to_string(s.server_tcp_user_timeout_ms),
       std::to_string(s.client_connection_check_interval_ms),
       std::to_string(s.server_idle_session_timeout_ms), std::to_string(s.lock_timeout_ms),
       std::to_string(s.idle_in_transaction_timeout_ms)});
  ls.identity_ = store::session_identity(
      ls.conn_.exec(fmt::format("{}: read the backend identity", s.purpose), store::kSessionIdentitySql));
  return ls;
}

void LockSession::send(std::string_view purpose, const char* sql, const std::vector<pg::Param>& params) {
  if (!conn_.valid())
    throw pg::Error(fmt::format("{}: no database connection", purpose), "08003").set_connection_lost(true);
  if (in_flight_) throw std::logic_error("lock session: a statement is already in flight");
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
  for (const auto& p : params) {
    values.push_back(p.value ? p.value->data() : nullptr);
    lengths.push_back(p.value ? static_cast<int>(p.value->size()) : 0);
    formats.push_back(p.binary ? 1 : 0);
  }
  purpose_ = std::string(purpose);
  sent_at_ = SteadyClock::now();
  if (PQsendQueryParams(conn_.raw(), sql, static_cast<int>(params.size()), nullptr, values.data(),
                        lengths.data(), formats.data(), 0) == 0) {
    std::string msg = PQerrorMessage(conn_.raw());
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    throw pg::Error(fmt::format("{}: cannot send: {}", purpose, msg), "08006")
        .set_connection_lost(PQstatus(conn_.raw()) != CONNECTION_OK);
  }
  in_flight_ = true;
  last_.reset();
  error_.clear();
  error_state_.clear();
}

void LockSession::drain_notifies() {
  while (PGnotify* n = PQnotifies(conn_.raw())) {
    ++notifications_;
    if (payloads_.size() < 1024) payloads_.emplace_back(n->extra ? n->extra : "");
    PQfreemem(n);
  }
}

int LockSession::take_notifications() {
  const int n = notifications_;
  notifications_ = 0;
  return n;
}

std::vector<std::string> LockSession::take_payloads() {
  std::vector<std::string> out;
  out.swap(payloads_);
  return out;
}

std::optional<pg::Result> LockSession::collect() {
  if (!conn_.valid())
    throw pg::Error(fmt::format("{}: no database connection", purpose_), "08003").set_connection_lost(true);
  PGconn* c = conn_.raw();
  if (PQconsumeInput(c) == 0 || PQstatus(c) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(c);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    const std::string what = in_flight_ ? purpose_ : std::string("idle lock session");
    in_flight_ = false;
    throw pg::Error(fmt::format("{}: lock session lost: {}", what, msg), "08006").set_connection_lost(true);
  }
  drain_notifies();
  if (!in_flight_) return std::nullopt;
  while (PQisBusy(c) == 0) {
    PGresult* raw = PQgetResult(c);
    if (raw == nullptr) {
      in_flight_ = false;
      drain_notifies();
      if (!error_.empty())
        throw pg::Error(fmt::format("{}: {}", purpose_, error_), error_state_)
            .set_connection_lost(PQstatus(c) != CONNECTION_OK);
      if (!last_) return pg::Result();
      auto r = std::move(*last_);
      last_.reset();
      return r;
    }
    pg::Result r(raw);
    const auto st = PQresultStatus(raw);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
      last_ = std::move(r);
    } else if (error_.empty()) {
      error_ = PQresultErrorMessage(raw);
      while (!error_.empty() && (error_.back() == '\n' || error_.back() == ' ')) error_.pop_back();
      if (error_.empty()) error_ = "unknown error";
      const char* state = PQresultErrorField(raw, PG_DIAG_SQLSTATE);
      error_state_ = state ? state : "";
    }
  }
  return std::nullopt;
}

bool LockSession::cancel() {
  if (!conn_.valid()) return false;
  PGcancel* pc = PQgetCancel(conn_.raw());
  if (pc == nullptr) return false;
  char err[256];
  const bool ok = PQcancel(pc, err, sizeof err) == 1;
  PQfreeCancel(pc);
  return ok;
}

}  // namespace wa::ha
