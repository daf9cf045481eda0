#include "store/pg.h"

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <mutex>

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

// WACONN_DATABASE_PASSWORD_FILE: the database password alone, in a file (libpq's PGPASSFILE
// refuses a file its user does not own, which a mounted Kubernetes Secret never is).
std::string password_from_file(std::string_view purpose) {
  const char* path = std::getenv("WACONN_DATABASE_PASSWORD_FILE");
  if (path == nullptr || *path == '\0') return {};
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error(fmt::format("{}: cannot read WACONN_DATABASE_PASSWORD_FILE {}", purpose, path), "28P01")
        .set_connection_lost(true);
  std::string pw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!pw.empty() && (pw.back() == '\n' || pw.back() == '\r')) pw.pop_back();
  return pw;
}

std::mutex g_password_source_mu;
PasswordSource g_password_source;

std::optional<std::string> password_from_source(const std::string& url) {
  std::lock_guard lk(g_password_source_mu);
  if (!g_password_source) return std::nullopt;
  return g_password_source(url);
}

}  // namespace

void set_password_source(PasswordSource source) {
  std::lock_guard lk(g_password_source_mu);
  g_password_source = std::move(source);
}

Connection Connection::open(const std::string& url, std::string_view purpose,
                            const std::vector<std::pair<std::string, std::string>>& extra) {
  std::vector<const char*> keys{"dbname"};
  std::vector<const char*> vals{url.c_str()};
  for (const auto& [k, v] : extra) {
    keys.push_back(k.c_str());
    vals.push_back(v.c_str());
  }
  // Read for every connection, so a rotated password (a Secret updated in the mounted file)
  // applies to the next connection without a restart. Later keys win over the URL's password.
  const auto from_source = password_from_source(url);
  const std::string password = from_source ? *from_source : password_from_file(purpose);
  if (!password.empty()) {
    keys.push_back("password");
    vals.push_back(password.c_str());
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

namespace {

constexpr const char* kSetTenantSql = "SELECT set_config('waconnector.business_id', $1, true)";

// libpq's parameter arrays for one statement.
struct Params {
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
  explicit Params(const std::vector<Param>& params) {
    values.reserve(params.size());
    for (const auto& p : params) {
      values.push_back(p.value ? p.value->data() : nullptr);
      lengths.push_back(p.value ? static_cast<int>(p.value->size()) : 0);
      formats.push_back(p.binary ? 1 : 0);
    }
  }
  int size() const { return static_cast<int>(values.size()); }
};

bool succeeded(const PGresult* r) {
  const auto st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

}  // namespace

Result Connection::exec(std::string_view purpose, const char* sql, const std::vector<Param>& params) {
  if (!c_) throw Error(fmt::format("{}: no database connection", purpose), "08003").set_connection_lost(true);
  if (tenant_ && PQtransactionStatus(c_.get()) == PQTRANS_IDLE) return exec_in_tenant(purpose, sql, params);
  const Params p(params);
  Result r(PQexecParams(c_.get(), sql, p.size(), nullptr, p.values.data(), p.lengths.data(), p.formats.data(), 0));
  if (!succeeded(r.get())) fail(purpose, r.get());
  return r;
}

// One round trip: set_config and the statement in a pipeline, which runs them in one implicit
// transaction that the Sync commits (or rolls back when either failed).
Result Connection::exec_in_tenant(std::string_view purpose, const char* sql, const std::vector<Param>& params) {
  PGconn* c = c_.get();
  if (PQenterPipelineMode(c) != 1) fail(purpose, nullptr);
  const Params p(params);
  const char* tenant = tenant_->c_str();
  const bool sent = PQsendQueryParams(c, kSetTenantSql, 1, nullptr, &tenant, nullptr, nullptr, 0) == 1 &&
                    PQsendQueryParams(c, sql, p.size(), nullptr, p.values.data(), p.lengths.data(),
                                      p.formats.data(), 0) == 1 &&
                    PQpipelineSync(c) == 1;
  Result setting, statement;
  bool synced = false;
  // Results: set_config's, NULL, the statement's, NULL, then the Sync's.
  while (sent && !synced && PQstatus(c) == CONNECTION_OK) {
    PGresult* r = PQgetResult(c);
    if (r == nullptr) continue;
    if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
      PQclear(r);
      synced = true;
    } else if (setting.get() == nullptr) {
      setting = Result(r);
    } else if (statement.get() == nullptr) {
      statement = Result(r);
    } else {
      PQclear(r);
    }
  }
  if (synced) PQexitPipelineMode(c);
  if (!synced) {
    // The connection broke mid-pipeline: no state worth keeping.
    Error e(fmt::format("{}: connection lost in a pipelined statement", purpose), "08006");
    e.set_connection_lost(true);
    c_.reset();
    throw e;
  }
  if (!succeeded(setting.get())) fail(purpose, setting.get());
  if (!succeeded(statement.get())) fail(purpose, statement.get());
  return statement;
}

void Connection::set_tenant(std::optional<std::string> ids) {
  if (ids == tenant_) return;
  tenant_ = std::move(ids);
  // Set right away inside an open transaction, still transaction-local. A scope ending inside a
  // transaction leaves the setting as it was: the rest of that transaction (one business's work,
  // which an inner store function scoped for it) keeps it until COMMIT.
  if (tenant_ && c_ && PQtransactionStatus(c_.get()) == PQTRANS_INTRANS)
    exec("set the business of this transaction", kSetTenantSql, {Param(*tenant_)});
}

namespace {

std::string join_ids(const std::vector<std::string>& ids) {
  std::string out;
  for (const auto& id : ids) {
    if (!out.empty()) out += ',';
    out += id;
  }
  return out;
}

}  // namespace

TenantScope::TenantScope(Connection& c, std::string_view business_id) : c_(c), previous_(c.tenant()) {
  c_.set_tenant(std::string(business_id));
}

TenantScope::TenantScope(Connection& c, const std::vector<std::string>& business_ids)
    : c_(c), previous_(c.tenant()) {
  c_.set_tenant(join_ids(business_ids));
}

TenantScope::~TenantScope() {
  try {
    c_.set_tenant(std::move(previous_));
  } catch (...) {
    // The connection failed: its transaction (and the setting) end with it.
  }
}

void Connection::exec_simple(std::string_view purpose, const char* sql) {
  if (!c_) throw Error(fmt::format("{}: no database connection", purpose), "08003").set_connection_lost(true);
  Result r(PQexec(c_.get(), sql));
  const auto st = r.get() ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) fail(purpose, r.get());
}

Transaction::Transaction(Connection& c, std::string_view purpose) : c_(c), purpose_(purpose) {
  c_.exec_simple(purpose_, "BEGIN");
  if (c_.tenant_) c_.exec(purpose_, kSetTenantSql, {Param(*c_.tenant_)});
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

std::int64_t count_in_businesses(Connection& c, std::string_view purpose, const char* sql,
                                 const std::vector<std::string>& business_ids) {
  if (business_ids.empty()) return 0;
  TenantScope tenant(c, business_ids);
  return c.exec(purpose, sql, {Param::array(business_ids)}).i64(0, 0);
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
