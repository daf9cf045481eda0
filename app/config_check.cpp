#include "app/config_check.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <libpq-fe.h>
#include <netdb.h>
#include <poll.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string_view>

#include <fmt/format.h>

#include "app/flags.h"
#include "common/log.h"
#include "store/pg.h"
#include "store/row_security.h"
#include "core/socket/ws_url.h"

namespace wa::app {
namespace {

constexpr std::size_t kMaxPodName = 253;  // a Kubernetes object name (DNS subdomain)

struct OptionsDeleter {
  void operator()(PQconninfoOption* o) const { PQconninfoFree(o); }
};
using Options = std::unique_ptr<PQconninfoOption, OptionsDeleter>;

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const auto comma = s.find(',', start);
    out.push_back(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

bool is_ip_literal(const std::string& h) {
  std::array<unsigned char, 16> buf{};
  return inet_pton(AF_INET, h.c_str(), buf.data()) == 1 || inet_pton(AF_INET6, h.c_str(), buf.data()) == 1;
}

bool all_digits(std::string_view s) {
  return !s.empty() && s.size() <= 9 && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// Parsed conninfo as keyword -> value (only the keywords that are set), or the parse error.
std::map<std::string, std::string> parse(const std::string& url, std::string& err) {
  char* perr = nullptr;
  Options opts(PQconninfoParse(url.c_str(), &perr));
  if (!opts) {
    err = perr ? perr : "cannot parse";
    if (perr) PQfreemem(perr);
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    std::replace(err.begin(), err.end(), '\n', ' ');  // the error is one line
    return {};
  }
  std::map<std::string, std::string> m;
  for (auto* o = opts.get(); o->keyword != nullptr; ++o)
    if (o->val != nullptr) m[o->keyword] = o->val;
  return m;
}

std::string one_of(const std::map<std::string, std::string>& m, const char* key,
                   std::initializer_list<std::string_view> allowed) {
  const auto it = m.find(key);
  if (it == m.end()) return {};
  if (std::find(allowed.begin(), allowed.end(), it->second) != allowed.end()) return {};
  std::string list;
  for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  return fmt::format("{}='{}' is not one of {}", key, it->second, list);
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// key=value: `password = value` or `password='quoted \' value'` (an unterminated quote runs to the end).
void kv_passwords(std::string_view s, std::vector<std::string>& out) {
  for (std::size_t at = s.find("password"); at != std::string_view::npos; at = s.find("password", at + 1)) {
    std::size_t i = at + 8;
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    if (i >= s.size() || s[i] != '=') continue;
    ++i;
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    std::string v;
    if (i < s.size() && s[i] == '\'') {
      for (++i; i < s.size() && s[i] != '\''; ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        v += s[i];
      }
    } else {
      while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i])) && s[i] != '&') v += s[i++];
    }
    out.push_back(v);
  }
}

std::mutex g_secrets_mu;
std::vector<std::string> g_secrets;

}  // namespace

std::vector<std::string> database_url_passwords(const std::string& url) {
  std::vector<std::string> out;
  char* perr = nullptr;
  if (Options opts{PQconninfoParse(url.c_str(), &perr)}) {
    for (auto* o = opts.get(); o->keyword != nullptr; ++o)
      if (std::string_view(o->keyword) == "password" && o->val != nullptr) out.emplace_back(o->val);
  }
  if (perr) PQfreemem(perr);
  // libpq could not parse it (or did): look for the password the way a reader would.
  const auto scheme = url.find("://");
  if (scheme != std::string::npos) {
    const std::string rest = url.substr(scheme + 3);
    for (const auto at : {rest.find('@'), rest.rfind('@')}) {
      if (at == std::string::npos) continue;
      const auto userinfo = rest.substr(0, at);
      if (const auto colon = userinfo.find(':'); colon != std::string::npos)
        out.push_back(userinfo.substr(colon + 1));
    }
  }
  kv_passwords(url, out);
  std::vector<std::string> all;
  for (const auto& p : out) {
    if (p.empty()) continue;
    all.push_back(p);
    if (auto d = percent_decode(p); d != p) all.push_back(d);
  }
  // Longest first, so a password that contains another candidate is replaced whole.
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  all.erase(std::unique(all.begin(), all.end()), all.end());
  return all;
}

namespace {
std::string replace_all(std::string text, const std::string& what) {
  if (what.empty()) return text;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 4))
    text.replace(pos, what.size(), "****");
  return text;
}
}  // namespace

std::string redact_database_password(std::string text, const std::string& url) {
  for (const auto& p : database_url_passwords(url)) text = replace_all(std::move(text), p);
  return text;
}

void register_secret(const std::string& secret) {
  if (secret.empty()) return;
  std::lock_guard lk(g_secrets_mu);
  if (std::find(g_secrets.begin(), g_secrets.end(), secret) == g_secrets.end()) g_secrets.push_back(secret);
  std::sort(g_secrets.begin(), g_secrets.end(),
            [](const auto& a, const auto& b) { return a.size() > b.size(); });
}

std::string redact_secrets(std::string text) {
  std::lock_guard lk(g_secrets_mu);
  for (const auto& s : g_secrets) text = replace_all(std::move(text), s);
  return text;
}

namespace {
std::string check_database_url_text(const std::string& url) {
  if (url.find_first_not_of(" \t\r\n") == std::string::npos)
    return "is empty (libpq would silently use its defaults: the local socket, the user's name as database)";
  std::string err;
  const auto m = parse(url, err);
  if (!err.empty()) return "cannot parse: " + err;
  for (const auto& e :
       {one_of(m, "sslmode", {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}),
        one_of(m, "gssencmode", {"disable", "prefer", "require"}),
        one_of(m, "target_session_attrs",
               {"any", "read-write", "read-only", "primary", "standby", "prefer-standby"})})
    if (!e.empty()) return e;
  for (const char* key : {"connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval",
                          "keepalives_count", "tcp_user_timeout"}) {
    const auto it = m.find(key);
    if (it != m.end() && !it->second.empty() && !all_digits(it->second))
      return fmt::format("{}='{}' is not a non-negative integer", key, it->second);
  }
  std::size_t hosts = 1;
  if (auto h = m.find("host"); h != m.end()) hosts = split_commas(h->second).size();
  if (auto a = m.find("hostaddr"); a != m.end()) {
    const auto addrs = split_commas(a->second);
    for (const auto& x : addrs)
      if (!x.empty() && !is_ip_literal(x)) return fmt::format("hostaddr '{}' is not an IP address", x);
    hosts = std::max(hosts, addrs.size());
  }
  if (auto p = m.find("port"); p != m.end()) {
    const auto ports = split_commas(p->second);
    for (const auto& x : ports) {
      if (x.empty()) continue;  // libpq's default port
      if (!all_digits(x) || std::stol(x) < 1 || std::stol(x) > 65535)
        return fmt::format("port '{}' is not a number from 1 to 65535", x);
    }
    if (ports.size() != 1 && ports.size() != hosts)
      return fmt::format("{} ports for {} hosts (give one port, or one per host)", ports.size(), hosts);
  }
  return {};
}

}  // namespace

std::string check_database_url(const std::string& url) {
  return redact_database_password(check_database_url_text(url), url);
}

std::vector<std::string> database_dns_hosts(const std::string& url) {
  std::string err;
  const auto m = parse(url, err);
  std::vector<std::string> out;
  const auto h = m.find("host");
  if (h == m.end() || m.count("hostaddr")) return out;  // hostaddr: no lookup at all
  for (const auto& x : split_commas(h->second))
    if (!x.empty() && x.front() != '/' && x.front() != '@' && !is_ip_literal(x)) out.push_back(x);
  return out;
}

void log_unresolvable_database_hosts(const std::string& url) {
  for (const auto& host : database_dns_hosts(url)) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
    if (res != nullptr) freeaddrinfo(res);
    if (rc == 0) continue;
    wa::log::warn("database_host_unresolvable")
        .kv("host", host)
        .kv("error", gai_strerror(rc))
        .kv("treated_as", "outage: retrying until it resolves (not a configuration error)");
  }
}

std::string check_listen_host(const std::string& host) {
  if (is_ip_literal(host)) return {};
  return fmt::format("'{}' is not an IPv4 or IPv6 address (use 0.0.0.0 or :: for every interface)",
                     host.size() > 64 ? host.substr(0, 64) + "..." : host);
}

std::string check_wa_url(const std::string& url) {
  if (url == "none") return {};
  try {
    socket::parse_ws_url(url);
  } catch (const std::invalid_argument& e) {
    return fmt::format("'{}': {}", url.size() > 64 ? url.substr(0, 64) + "..." : url, e.what());
  }
  return {};
}

std::string check_pod_name(const std::string& pod) {
  if (pod.empty()) return "is empty";
  if (pod.size() > kMaxPodName)
    return fmt::format("is {} characters long (at most {}: a pod name or hostname)", pod.size(), kMaxPodName);
  const auto bad = pod.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");
  if (bad != std::string::npos)
    return fmt::format("has the character {:#04x} at offset {} (letters, digits, '.', '_' and '-' only)",
                       static_cast<unsigned>(static_cast<unsigned char>(pod[bad])), bad);
  return {};
}

std::string check_row_level_security(const std::string& url, bool allow_bypass, const std::string& application_name) {
  store::RlsStatus st;
  try {
    auto conn = pg::Connection::open(url, "check row-level security",
                                     {{"application_name", application_name}, {"connect_timeout", "5"}});
    st = store::rls_status(conn);
  } catch (const pg::Error& e) {
    wa::log::warn("row_level_security").kv("enforced", "unknown").kv("error", redact_secrets(e.what()));
    return R"({"enforced":null,"reason":"not checked: the database was unreachable at start"})";
  }
  std::string json = R"({"enforced":)";
  json += st.enforced ? "true" : "false";
  json += R"(,"role":)";
  append_json_string(json, st.role);
  json += R"(,"app_member":)";
  json += st.app_member ? "true" : "false";
  if (!st.enforced) {
    json += R"(,"reason":)";
    append_json_string(json, st.reason);
    json += R"(,"bypass_allowed":)";
    json += allow_bypass ? "true" : "false";
  }
  json += "}";
  {
    wa::log::Line line(st.enforced ? wa::log::Level::info : wa::log::Level::warn, "row_level_security");
    line.kv("enforced", st.enforced).kv("role", st.role).kv("app_member", st.app_member);
    if (!st.enforced) line.kv("reason", st.reason).kv("bypass_allowed", allow_bypass);
  }
  if (!st.enforced && !allow_bypass)
    throw ConfigError(fmt::format(
        "row-level security does not bind database role {}: {}. Connect as a login role that is a member of "
        "waconnector_app and does not own the tables (docs/security.md), or pass --allow-rls-bypass "
        "(ALLOW_RLS_BYPASS) for a local demo",
        st.role, st.reason));
  return json;
}

namespace {

// Waits up to `timeout` for the answer of a query sent with PQsendQuery; nullopt when none came.
std::optional<pg::Result> answer_within(pg::Connection& c, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (PQisBusy(c.raw())) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{c.socket(), POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(left.count()));
    if (PQconsumeInput(c.raw()) == 0)
      throw pg::Error(fmt::format("session check: {}", PQerrorMessage(c.raw())), "08006").set_connection_lost(true);
  }
  pg::Result r(PQgetResult(c.raw()));
  while (PGresult* more = PQgetResult(c.raw())) PQclear(more);
  return r;
}

}  // namespace

std::string check_session_pinning(const std::string& url, const std::string& application_name) {
  try {
    const std::vector<std::pair<std::string, std::string>> params{{"application_name", application_name},
                                                                  {"connect_timeout", "5"}};
    auto a = pg::Connection::open(url, "session check", params);
    auto b = pg::Connection::open(url, "session check", params);
    auto first = a.exec("session check: mark the session",
                        "SELECT pg_backend_pid(), set_config('waconnector.session_check', 'pinned', false)");
    const auto pid = first.i64(0, 0);
    // B holds a transaction open: a transaction-pooling proxy gives B the server session A just
    // used (it is idle) and must run A's next statement on another one, or make it wait.
    b.exec_simple("session check: hold a transaction", "BEGIN");
    b.exec("session check: use the session", "SELECT 1");
    if (PQsendQuery(a.raw(), "SELECT pg_backend_pid(), current_setting('waconnector.session_check', true)") != 1)
      throw pg::Error(fmt::format("session check: {}", PQerrorMessage(a.raw())), "08006").set_connection_lost(true);
    auto second = answer_within(a, std::chrono::milliseconds(2000));
    b.exec_simple("session check: end the transaction", "ROLLBACK");
    bool waited = false;
    if (!second) {
      // Blocked behind B (a proxy with one server connection) or only slow (a loaded server): the
      // answer after B's ROLLBACK tells apart only a switched session; a slow one is not refused.
      waited = true;
      second = answer_within(a, std::chrono::milliseconds(10000));
      if (!second) throw pg::Error("session check: no answer within 12 s", "");
    }
    if (PQresultStatus(second->get()) != PGRES_TUPLES_OK)
      throw pg::Error(fmt::format("session check: {}", PQresultErrorMessage(second->get())), "");
    const auto pid2 = second->i64(0, 0);
    const auto setting = second->opt(0, 1).value_or("");
    if (pid2 != pid || setting != "pinned")
      return fmt::format(
          "two statements on one connection ran on different database sessions (backend pid {} then {}, a "
          "session setting {}): the URL reaches a transaction-pooling proxy (e.g. PgBouncer pool_mode=transaction), "
          "where session-level advisory locks, the lock heartbeat and LISTEN do not hold. Point it at PostgreSQL "
          "directly or at a session-mode pool",
          pid, pid2, setting == "pinned" ? "kept" : "lost");
    if (waited)
      wa::log::warn("session_check_inconclusive")
          .kv("message",
              "a statement waited more than 2 s while another connection held a transaction: a transaction-pooling "
              "proxy with one server connection, or a slow server; the lock heartbeat still checks its backend");
    return {};
  } catch (const pg::Error& e) {
    wa::log::warn("session_check_deferred").kv("error", redact_secrets(e.what()));
    return {};
  }
}

BudgetFigures connection_budget(const ConnectionBudget& b, int pods, int max_connections, int reserved) {
  BudgetFigures f;
  f.pods = std::max(pods, 1);
  // lock + live (liveness lock, LISTEN waconnector_leader) + notify hub + a `peer` waiter per
  // other pod (poll mode; block mode adds a `wait` session per account not led, logged apart).
  f.per_pod = 3 + (f.pods - 1) + (b.pooled_store ? 0 : b.pool_size);
  f.total = f.pods * f.per_pod;
  f.max_connections = max_connections;
  f.reserved = reserved;
  f.exceeds = f.total > max_connections - reserved;
  return f;
}

std::optional<BudgetFigures> check_connection_budget(const std::string& url, const ConnectionBudget& b) {
  int max_connections = 0, reserved = 0, live = 0, in_use = 0;
  try {
    auto c = pg::Connection::open(url, "check the connection budget",
                                  {{"application_name", fmt::format("waconnector/{}/budget-check", b.pod)},
                                   {"connect_timeout", "5"}});
    auto r = c.exec("read max_connections",
                    "SELECT current_setting('max_connections')::int,"
                    " current_setting('superuser_reserved_connections')::int"
                    " + coalesce(current_setting('reserved_connections', true), '0')::int,"
                    " (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int");
    max_connections = static_cast<int>(r.i64(0, 0));
    reserved = static_cast<int>(r.i64(0, 1));
    in_use = static_cast<int>(r.i64(0, 2));
    // Live pods: heartbeat within the last 30 s (ha_members), this one counted even before its first beat.
    auto m = c.exec("count the live pods",
                    "SELECT count(*) FILTER (WHERE pod <> $1)::int FROM ha_members"
                    " WHERE heartbeat_at > clock_timestamp() - interval '30 seconds'",
                    {b.pod});
    live = static_cast<int>(m.i64(0, 0)) + 1;
  } catch (const pg::Error& e) {
    wa::log::warn("connection_budget").kv("checked", false).kv("error", redact_secrets(e.what()));
    return std::nullopt;
  }
  const int pods = std::max(b.expected_replicas, live);
  auto f = connection_budget(b, pods, max_connections, reserved);
  f.in_use = in_use;
  wa::log::Line line(f.exceeds ? wa::log::Level::warn : wa::log::Level::info, "connection_budget");
  line.kv("pods", f.pods)
      .kv("live_pods", live)
      .kv("expected_replicas", b.expected_replicas)
      .kv("per_pod", f.per_pod)
      .kv("store_pool_size", b.pool_size)
      .kv("store_pool_via_proxy", b.pooled_store)
      .kv("total", f.total)
      .kv("max_connections", f.max_connections)
      .kv("reserved", f.reserved)
      .kv("backends_now", f.in_use)
      .kv("formula", "pods x (lock 1 + live 1 + notify 1 + store pool + peer (pods - 1))");
  if (b.block_mode) line.kv("block_mode", "plus one waiter session per account a pod does not lead");
  if (f.exceeds)
    line.kv("message",
            fmt::format("{} pods x {} sessions = {} exceeds max_connections {} - {} reserved: raise max_connections, "
                        "lower --store-pool-size, or put the store pool behind PgBouncer (docs/operations.md, "
                        "connection budget)",
                        f.pods, f.per_pod, f.total, f.max_connections, f.reserved));
  return f;
}

}  // namespace wa::app
