#include "store/pg.h"

#include <fmt/format.h>

#include "common/log.h"

namespace wa::pg {

std::int64_t Result::i64(int row, int col) const {
  const auto t = text(row, col);
  try {
    return std::stoll(std::string(t));
  } catch (const std::exception&) {
    throw Error(fmt::format("expected an integer in column {} row {}", col, row), "");
  }
}

std::vector<std::uint8_t> Result::bytes(int row, int col) const {
  if (is_null(row, col)) return {};
  // Binary-format results hand us the raw bytes; text-format bytea comes as \x hex.
  if (PQfformat(r_.get(), col) == 1) {
    const auto t = text(row, col);
    return {t.begin(), t.end()};
  }
  std::size_t n = 0;
  unsigned char* raw =
      PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(r_.get(), row, col)), &n);
  if (raw == nullptr) throw Error("cannot decode bytea value", "");
  std::vector<std::uint8_t> out(raw, raw + n);
  PQfreemem(raw);
  return out;
}

namespace {

// One array element, double-quoted, with backslash and double quote escaped (array literal syntax).
void append_quoted(std::string& out, std::string_view v) {
  out += '"';
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

}  // namespace

Param Param::array(const std::vector<std::string>& v) {
  std::string out = "{";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    append_quoted(out, v[i]);
  }
  out += '}';
  return Param(std::move(out));
}

Param Param::array(const std::vector<std::int64_t>& v) {
  std::string out = "{";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(v[i]);
  }
  out += '}';
  return Param(std::move(out));
}

Param Param::bool_array(const std::vector<bool>& v) {
  std::string out = "{";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    out += v[i] ? 't' : 'f';
  }
  out += '}';
  return Param(std::move(out));
}

void Param::append_bytea_element(std::string& out, const std::uint8_t* data, std::size_t n) {
  // bytea's hex input form \x0a1b..., its backslash escaped for the array literal.
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\"\\\\x";
  for (std::size_t i = 0; i < n; ++i) {
    out += kHex[data[i] >> 4];
    out += kHex[data[i] & 0x0f];
  }
  out += '"';
}

namespace {

// libpq's default notice processor prints server notices raw on stderr, outside the JSON log;
// that includes the FATAL a server sends an idle session before closing it (shutdown,
// idle_session_timeout, pg_terminate_backend). Log them as JSON lines instead: the primary
// message only (DETAIL may quote row values).
void log_notice(void*, const PGresult* r) {
  auto field = [r](int code) {
    const char* v = PQresultErrorField(r, code);
    return std::string(v ? v : "");
  };
  const auto severity = field(PG_DIAG_SEVERITY_NONLOCALIZED);
  const bool bad = severity == "FATAL" || severity == "PANIC" || severity == "ERROR" || severity == "WARNING";
  (bad ? wa::log::warn("postgres_notice") : wa::log::info("postgres_notice"))
      .kv("severity", severity)
      .kv("sqlstate", field(PG_DIAG_SQLSTATE))
      .kv("message", field(PG_DIAG_MESSAGE_PRIMARY));
}

}  // namespace

Connection Connection::open(const std::string& url, std::string_view purpose,
                            const std::vector<std::pair<std::string, std::string>>& extra) {
  std::vector<const char*> keys{"dbname"};
  std::vector<const char*> vals{url.c_str()};
  for (const auto& [k, v] : extra) {
    keys.push_back(k.c_str());
    vals.push_back(v.c_str());
  }
  keys.push_back(nullptr);
  vals.push_back(nullptr);
  // expand_dbname=1: the first "dbname" may be a full URL or conninfo string; later keys win.
  PGconn* c = PQconnectdbParams(keys.data(), vals.data(), 1);
  if (c == nullptr) throw Error(fmt::format("{}: out of memory connecting to PostgreSQL", purpose), "");
  Connection conn(c);
  PQsetNoticeReceiver(c, log_notice, nullptr);
  if (PQstatus(c) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(c);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    throw Error(fmt::format("{}: cannot connect to PostgreSQL: {}", purpose, msg), "08006")
        .set_connection_lost(true);
  }
  return conn;
}

void Connection::fail(std::string_view purpose, const PGresult* r) {
  std::string msg = r ? PQresultErrorMessage(r) : "";
  if (msg.empty() && c_) msg = PQerrorMessage(c_.get());
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  Error e(fmt::format("{}: {}", purpose, msg.empty() ? "unknown error" : msg), state ? state : "");
  e.set_connection_lost(!c_ || PQstatus(c_.get()) != CONNECTION_OK);
  if (e.sqlstate() == "25006" && c_ && !retired_) {
    retired_ = true;
    wa::log::warn("database_session_read_only")
        .kv("purpose", purpose)
        .kv("backend_pid", PQbackendPID(c_.get()))
        .kv("action", "the session is retired and reopened: a read-only session stays read-only");
  }
  if (retired_) e.set_connection_lost(true);
  throw e;
}

Result Connection::exec(std::string_view purpose, const char* sql, const std::vector<Param>& params) {
  if (!c_) throw Error(fmt::format("{}: no database connection", purpose), "08003").set_connection_lost(true);
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
  values.reserve(params.size());
  for (const auto& p : params) {
    values.push_back(p.value ? p.value->data() : nullptr);
    lengths.push_back(p.value ? static_cast<int>(p.value->size()) : 0);
    formats.push_back(p.binary ? 1 : 0);
  }
  Result r(PQexecParams(c_.get(), sql, static_cast<int>(params.size()), nullptr, values.data(),
                        lengths.data(), formats.data(), 0));
  const auto st = r.get() ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) fail(purpose, r.get());
  return r;
}

void Connection::exec_simple(std::string_view purpose, const char* sql) {
  if (!c_) throw Error(fmt::format("{}: no database connection", purpose), "08003").set_connection_lost(true);
  Result r(PQexec(c_.get(), sql));
  const auto st = r.get() ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) fail(purpose, r.get());
}

Transaction::Transaction(Connection& c, std::string_view purpose) : c_(c), purpose_(purpose) {
  c_.exec_simple(purpose_, "BEGIN");
}

Transaction::~Transaction() {
  if (done_) return;
  try {
    c_.exec_simple(purpose_, "ROLLBACK");
  } catch (...) {
    // The connection is gone; the server rolls back on its own.
  }
}

void Transaction::commit() {
  c_.exec_simple(purpose_, "COMMIT");
  done_ = true;
}

std::string validate_conninfo(const std::string& url) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
  if (opts == nullptr) {
    std::string msg = err ? err : "cannot parse";
    if (err) PQfreemem(err);
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    return msg;
  }
  PQconninfoFree(opts);
  return {};
}

}  // namespace wa::pg
