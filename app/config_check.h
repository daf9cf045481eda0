// Pure checks of configuration values that would otherwise surface only at run time, as an endless
// retry loop (an empty database URL runs against libpq's defaults, sslmode=bogus fails every
// connect) or as silent surprises (--http 256.0.0.0 binding somewhere else). Each returns an empty
// string when the value is usable, else why not; callers prefix the flag name and throw
// ConfigError (one line, exit 2). Only log_unresolvable_database_hosts touches the network.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace wa::app {

// A PostgreSQL URL or key=value conninfo: non-empty, parseable by libpq, and every value libpq
// only checks when it connects is valid (sslmode, gssencmode, target_session_attrs, ports, the
// number of ports against the number of hosts, hostaddr, integer settings).
std::string check_database_url(const std::string& url);

// The host names of a database URL that need DNS (neither an IP literal nor a unix socket path),
// for the "unresolvable host = outage, not configuration" log line.
std::vector<std::string> database_dns_hosts(const std::string& url);

// Looks up every such host once and logs each that does not resolve, as what it is: an outage
// the pod retries through (DNS may be late or down), not a configuration error. Never throws.
void log_unresolvable_database_hosts(const std::string& url);

// The HOST part of --http: an IPv4 or IPv6 literal (the server binds addresses, not names).
std::string check_listen_host(const std::string& host);

// --wa-url: "none", or a ws:// / wss:// URL with a host (core/socket/ws_url parses it).
std::string check_wa_url(const std::string& url);

// The password(s) a database URL carries, found even when libpq cannot parse it (URL userinfo,
// a `password=` query parameter or key=value pair; raw and percent-decoded). Empty: none.
std::vector<std::string> database_url_passwords(const std::string& url);
// `text` with every password of `url` replaced by "****" (libpq echoes parts of a URL it cannot
// parse, the password included).
std::string redact_database_password(std::string text, const std::string& url);

// Process-wide secrets that no error or status text may carry (the database password once a
// command resolved its URL). redact_secrets() replaces each by "****".
void register_secret(const std::string& secret);
std::string redact_secrets(std::string text);

// Row-level security (store/row_security.h) for the role `url` connects as: logs one
// "row_level_security" line and returns the JSON object /status shows. Throws ConfigError when the
// role bypasses it (superuser, BYPASSRLS, the tables' owner) and `allow_bypass` is false. A
// database unreachable now is not a configuration error: logged, and reported as unchecked.
std::string check_row_level_security(const std::string& url, bool allow_bypass,
                                    const std::string& application_name = "waconnector/rls-check");

// --lock-database-url must reach ONE database session per connection: the lock session's advisory
// locks, its heartbeat and LISTEN belong to the session. Through a transaction-pooling proxy
// (PgBouncer pool_mode=transaction) two statements of one connection may run on different server
// sessions. The check opens two connections: the first sets a session-level setting, the second
// holds a transaction open (pinning the server session a proxy would hand out next), then the
// first reads its setting back and its backend pid. Returns why the URL is unfit (the setting
// gone, another backend, or the read blocked behind the other connection's transaction), empty
// when it is fit. A database unreachable now is not a configuration error: logged, empty.
std::string check_session_pinning(const std::string& url, const std::string& application_name);

// The connection budget (docs/operations.md "connection budget"): sessions per pod = lock 1 +
// live 1 + notify hub 1 + store pool N + peer waiters (pods - 1); all pods together against the
// server's max_connections minus its reserved slots. Inputs that the caller knows:
struct ConnectionBudget {
  std::string pod;
  int pool_size = 4;
  int expected_replicas = 0;  // 0: the live pods of ha_members (this one included)
  bool block_mode = false;    // --standby-wait=block: one waiter per account on top
  bool pooled_store = false;  // the store pool goes through a proxy (--lock-database-url differs)
};
struct BudgetFigures {
  int pods = 0;
  int per_pod = 0;  // direct sessions (the pool's count too, unless pooled_store)
  int total = 0;
  int max_connections = 0;
  int reserved = 0;  // superuser_reserved_connections (+ reserved_connections, PostgreSQL 16)
  int in_use = 0;    // backends now (all clients)
  bool exceeds = false;
};
// The formula alone (tests, docs): `pods` pods.
BudgetFigures connection_budget(const ConnectionBudget& b, int pods, int max_connections, int reserved);
// Reads max_connections, the reserved slots and the live pods over `url` (the lock URL: the server
// itself, not a proxy), logs one "connection_budget" line (warn with the numbers and what to
// change when the total exceeds what the server allows). Never throws; nullopt when unreachable.
std::optional<BudgetFigures> check_connection_budget(const std::string& url, const ConnectionBudget& b);

// --pod: 1-253 characters of [A-Za-z0-9._-] (a Kubernetes pod name or a hostname). It is stored
// in every lease and event row and in application_name.
std::string check_pod_name(const std::string& pod);

}  // namespace wa::app
