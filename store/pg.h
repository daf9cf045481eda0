// libpq behind RAII. Every statement is parameterised and named by its purpose, so an error says
// what was being done ("bump lease epoch for business 42: ...") without echoing parameter values.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <libpq-fe.h>

namespace wa::pg {

// A database error with the statement's purpose and, when the server sent one, its SQLSTATE.
class Error : public std::runtime_error {
 public:
  Error(std::string message, std::string sqlstate)
      : std::runtime_error(std::move(message)), sqlstate_(std::move(sqlstate)) {}
  const std::string& sqlstate() const { return sqlstate_; }
  // True when the connection itself is gone (not just the statement failed).
  bool connection_lost() const { return connection_lost_; }
  Error& set_connection_lost(bool v) {
    connection_lost_ = v;
    return *this;
  }

 private:
  std::string sqlstate_;
  bool connection_lost_ = false;
};

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};

// A query result. Values are text; null values are std::nullopt.
class Result {
 public:
  Result() = default;
  explicit Result(PGresult* r) : r_(r) {}
  int rows() const { return r_ ? PQntuples(r_.get()) : 0; }
  int cols() const { return r_ ? PQnfields(r_.get()) : 0; }
  bool is_null(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  std::string_view text(int row, int col) const {
    return {PQgetvalue(r_.get(), row, col), static_cast<std::size_t>(PQgetlength(r_.get(), row, col))};
  }
  std::optional<std::string> opt(int row, int col) const {
    if (is_null(row, col)) return std::nullopt;
    return std::string(text(row, col));
  }
  std::int64_t i64(int row, int col) const;
  bool boolean(int row, int col) const { return text(row, col) == "t"; }
  // bytea columns selected as hex text ("\x0102...") are decoded to raw bytes.
  std::vector<std::uint8_t> bytes(int row, int col) const;
  int col_index(const char* name) const { return PQfnumber(r_.get(), name); }
  PGresult* get() const { return r_.get(); }

 private:
  std::unique_ptr<PGresult, ResultDeleter> r_;
};

// A statement parameter: text, or binary bytes (bytea), or NULL.
struct Param {
  std::optional<std::string> value;
  bool binary = false;
  Param() = default;  // NULL
  Param(std::nullopt_t) {}
  Param(std::string v) : value(std::move(v)) {}
  Param(std::string_view v) : value(std::string(v)) {}
  Param(const char* v) : value(std::string(v)) {}
  Param(std::int64_t v) : value(std::to_string(v)) {}
  Param(int v) : value(std::to_string(v)) {}
  Param(bool v) : value(v ? "t" : "f") {}
  template <typename T>
  Param(const std::optional<T>& v) {
    if (v) *this = Param(*v);
  }
  static Param bytes(const std::vector<std::uint8_t>& b) {
    Param p;
    p.value = std::string(b.begin(), b.end());
    p.binary = true;
    return p;
  }

  // Array parameters in PostgreSQL's text form, as libpqxx's array conversions build them: one
  // parameter carries a whole column, so a batch is one statement (`INSERT ... SELECT * FROM
  // unnest($2::integer[], $3::bytea[])`). Cast the placeholder to the element type in the SQL.
  // Elements are never NULL; text elements are quoted and escaped, so any string is safe.
  static Param array(const std::vector<std::string>& v);
  static Param array(const std::vector<std::int64_t>& v);
  static Param bool_array(const std::vector<bool>& v);
  // bytea[]: each element is a contiguous byte container (std::vector<uint8_t>, std::array<uint8_t, N>).
  template <typename Bytes>
  static Param bytea_array(const std::vector<Bytes>& v) {
    std::string out = "{";
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (i) out += ',';
      append_bytea_element(out, reinterpret_cast<const std::uint8_t*>(std::data(v[i])), std::size(v[i]));
    }
    out += '}';
    return Param(std::move(out));
  }

 private:
  static void append_bytea_element(std::string& out, const std::uint8_t* data, std::size_t n);
};

// Where the password of a connection whose URL carries none comes from, by URL (tenant databases,
// store/tenants.h: read from the tenant's password file at every connection). Returns nullopt for
// a URL it does not know; then WACONN_DATABASE_PASSWORD_FILE applies as before. Set once at start.
using PasswordSource = std::function<std::optional<std::string>(const std::string& url)>;
void set_password_source(PasswordSource source);

class Connection {
 public:
  // Connects synchronously. Throws pg::Error naming `purpose` (e.g. "lock session") on failure.
  // `extra` is appended to the conninfo (e.g. keepalive settings, application_name).
  static Connection open(const std::string& url, std::string_view purpose,
                         const std::vector<std::pair<std::string, std::string>>& extra = {});

  Connection() = default;
  Connection(Connection&& o) noexcept
      : c_(std::move(o.c_)), retired_(std::exchange(o.retired_, false)), tenant_(std::move(o.tenant_)) {}
  Connection& operator=(Connection&& o) noexcept {
    c_ = std::move(o.c_);
    retired_ = std::exchange(o.retired_, false);
    tenant_ = std::move(o.tenant_);
    return *this;
  }

  bool valid() const { return c_ != nullptr; }
  // False also once a write failed as read-only (SQLSTATE 25006): see retired().
  bool ok() const { return c_ && PQstatus(c_.get()) == CONNECTION_OK && !retired_; }
  // A session that was opened while the database was read-only (default_transaction_read_only,
  // a standby reached without target_session_attrs=read-write) keeps failing writes after the
  // database is writable again, because the setting is read at session start. Such a session
  // is retired: its error says connection_lost(), ok() turns false, and its owner opens a new one.
  bool retired() const { return retired_; }
  PGconn* raw() const { return c_.get(); }
  int backend_pid() const { return c_ ? PQbackendPID(c_.get()) : 0; }
  int socket() const { return c_ ? PQsocket(c_.get()) : -1; }

  // Runs one parameterised statement and waits for its result. `purpose` names the statement in
  // errors. Throws pg::Error on failure (connection_lost() tells a dead connection apart).
  Result exec(std::string_view purpose, const char* sql, const std::vector<Param>& params = {});
  // Runs a statement with no parameters (DDL, BEGIN/COMMIT, SET, LISTEN) via the simple protocol.
  void exec_simple(std::string_view purpose, const char* sql);

  void close() {
    c_.reset();
    retired_ = false;
  }

  // Row-level security (migration 0011): the business ids whose rows the following statements may
  // see and write, as the comma-separated value of the setting waconnector.business_id (nullopt:
  // none). It is set per transaction with set_config(..., true), never for the session, so it holds
  // through a transaction-pooling proxy: a Transaction sets it after BEGIN, a statement outside a
  // transaction runs as one pipelined implicit transaction (set_config, the statement, Sync), and a
  // change inside an open transaction is applied at once. Use TenantScope rather than this.
  void set_tenant(std::optional<std::string> ids);
  const std::optional<std::string>& tenant() const { return tenant_; }

 private:
  friend class Transaction;
  explicit Connection(PGconn* c) : c_(c) {}
  [[noreturn]] void fail(std::string_view purpose, const PGresult* r);
  Result exec_in_tenant(std::string_view purpose, const char* sql, const std::vector<Param>& params);
  std::unique_ptr<PGconn, ConnDeleter> c_;
  bool retired_ = false;
  std::optional<std::string> tenant_;
};

// The statements run while it lives see the rows of these businesses only (when the role is under
// row-level security); the previous scope comes back at its end. Store functions open one for the
// business they were asked about, so a query that forgot its WHERE still sees no other business.
class TenantScope {
 public:
  TenantScope(Connection& c, std::string_view business_id);
  TenantScope(Connection& c, const std::vector<std::string>& business_ids);
  TenantScope(const TenantScope&) = delete;
  TenantScope& operator=(const TenantScope&) = delete;
  ~TenantScope();

 private:
  Connection& c_;
  std::optional<std::string> previous_;
};

// BEGIN on construction, ROLLBACK on destruction unless commit() ran.
class Transaction {
 public:
  explicit Transaction(Connection& c, std::string_view purpose);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  void commit();

 private:
  Connection& c_;
  std::string purpose_;
  bool done_ = false;
};

// count(*)-style query over several businesses under their TenantScope: `sql` takes them as
// $1 (text[]) and returns one bigint. 0 without any business.
std::int64_t count_in_businesses(Connection& c, std::string_view purpose, const char* sql,
                                 const std::vector<std::string>& business_ids);

// Quote-free check that a database URL/conninfo parses; returns an error message or empty.
std::string validate_conninfo(const std::string& url);

}  // namespace wa::pg
