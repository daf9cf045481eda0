// waconnector run: compete for the accounts' advisory locks, lead the ones won and run each led
// account's WhatsApp Web session (core/client) from the device kept in the shared store, serve
// /health /ready /status /metrics and the pairing QR, and resign gracefully on SIGTERM/SIGINT.
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "app/api/auth.h"
#include "app/api/logout_responder.h"
#include "app/api/request_json.h"
#include "app/api/routes.h"
#include "app/api/webhook_sender.h"
#include "app/commands.h"
#include "app/config_check.h"
#include "app/flags.h"
#include "app/http_server.h"
#include "app/kek_file.h"
#include "app/qr_endpoint.h"
#include "app/qr_pair_code_responder.h"
#include "app/status_json.h"
#include "app/watchdog.h"
#include "common/log.h"
#include "common/metrics.h"
#include "core/client/wa_client.h"
#include "core/connection.h"
#include "core/crypto/bytes.h"
#include "ha/elector.h"
#include "ha/leased_device_store.h"
#include "ha/leased_message_store.h"
#include "ha/outbox_dispatcher.h"
#include "ha/shutdown.h"
#include "ha/store_session.h"
#include "ha/supervisor.h"
#include "store/accounts.h"
#include "store/connection_pool.h"
#include "store/errors.h"
#include "store/notify_hub.h"
#include "store/outbox.h"
#include "store/pg.h"
#include "store/sealing.h"
#include "store/migrator.h"
#include "store/tenants.h"

namespace wa::app {
namespace {

constexpr const char* kProductionUrl = wa::socket::kWaProductionUrl;

std::string hostname_or_empty() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return {};
  return buf;
}

// Flags keeps the last value of a repeated flag; --business-id may be given many times (or as a
// comma-separated list), so the repeats are folded into one list first.
std::vector<std::string> fold_business_ids(int& argc, char** argv) {
  std::vector<std::string> ids;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--business-id" && i + 1 < argc) {
      ids.emplace_back(argv[++i]);
    } else if (a.rfind("--business-id=", 0) == 0) {
      ids.emplace_back(a.substr(14));
    } else {
      rest.push_back(argv[i]);
    }
  }
  for (std::size_t i = 0; i < rest.size(); ++i) argv[i] = rest[i];
  argc = static_cast<int>(rest.size());
  return ids;
}

std::vector<std::string> split_ids(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    auto comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    auto part = s.substr(start, comma - start);
    while (!part.empty() && part.front() == ' ') part.erase(part.begin());
    while (!part.empty() && part.back() == ' ') part.pop_back();
    if (!part.empty()) out.push_back(part);
    start = comma + 1;
  }
  return out;
}

PodStatus pod_status(const std::string& pod, const ha::ElectorSnapshot& s) {
  PodStatus p;
  p.pod = pod;
  p.version = WACONN_VERSION;
  p.db_reachable = s.db_reachable;
  p.db_writable = s.db_writable;
  p.elector_running = s.running;
  p.share.live_pods = s.share.live_pods;
  p.share.accounts = s.share.accounts;
  p.share.fair_share = s.share.fair_share;
  p.share.leading = s.share.leading;
  p.share.targeted = s.share.targeted;
  p.share.handovers = s.share.handovers;
  for (const auto& a : s.accounts) {
    AccountStatus st;
    st.business_id = a.business_id;
    st.role = ha::to_string(a.role);
    st.epoch = a.epoch;
    st.since_unix_ms = a.since_unix_ms;
    st.jid = a.jid;
    st.connection = a.connection;
    p.accounts.push_back(std::move(st));
  }
  return p;
}

// Every data key must unwrap with --kek-file before any account starts: a wrong KEK is a
// configuration error (exit 2), never a silent re-pair. A database that is down now defers the
// check to each account's first read of its keys, which fails with the same message.
void install_sealer(store::KekRing ring, const std::string& database_url, const std::string& application_name) {
  auto sealer = std::make_shared<store::Sealer>(std::move(ring), database_url);
  try {
    auto conn = pg::Connection::open(database_url, "check the key-encryption key",
                                     {{"application_name", application_name}, {"connect_timeout", "5"}});
    const auto n = sealer->verify(conn);
    wa::log::info("kek_verified").kv("data_keys", static_cast<std::int64_t>(n)).kv("kek_id", sealer->keks().primary().id);
  } catch (const store::SealingError& e) {
    throw ConfigError(e.what());
  } catch (const pg::Error& e) {
    wa::log::warn("kek_check_deferred").kv("error", redact_secrets(e.what()));
  }
  store::install_sealer(std::move(sealer));
}

}  // namespace

int cmd_run(int argc, char** argv) {
  auto cli_ids = fold_business_ids(argc, argv);
  Flags flags("waconnector run",
              "Compete for the advisory lock of every account, lead the ones won and run their WhatsApp Web "
              "sessions from the shared store.",
              {
                  {"database-url", "DATABASE_URL", "PostgreSQL URL or conninfo of the store pool (direct, or PgBouncer in transaction or session mode)", "", false, true},
                  {"lock-database-url", "LOCK_DATABASE_URL", "PostgreSQL URL of the lock, liveness and notify sessions: advisory locks and LISTEN need a direct connection or a session-mode pool, never transaction pooling (default: --database-url)", ""},
                  {"store-pool-size", "STORE_POOL_SIZE", "PostgreSQL connections this pod's store pool opens at most, shared by every led account, the API and the workers (docs/operations.md, connection budget)", "4"},
                  {"expected-replicas", "EXPECTED_REPLICAS", "pods of the StatefulSet, for the connection-budget check at start (0: the live pods in ha_members)", "0"},
                  {"pod", "POD_NAME", "this pod's name (stable: the StatefulSet pod name)", hostname_or_empty()},
                  {"http-threads", "HTTP_THREADS", "civetweb workers of the API port (SSE streams may hold half of them); the probes have a listener of their own. Threads per pod do not grow with accounts", "8"},
                  {"http", "HTTP_LISTEN", "HOST:PORT for the API (/v1/...) and /health /ready /status /metrics (loopback unless set: the manifests give the pod's address)", "127.0.0.1:8080"},
                  {"probe-http", "PROBE_HTTP_LISTEN", "HOST:PORT of the probes' own listener (/health /ready /status /metrics), which API clients cannot starve; 'off' for none (default: --http's host, its port + 1, or an ephemeral port when --http's is 0)", ""},
                  {"admin-token-file", "ADMIN_TOKEN_FILE", "file holding the API admin token (manages accounts; else env WACONN_ADMIN_TOKEN; none = no admin)", ""},
                  kek_file_flag(),
                  {"business-id", "BUSINESS_IDS", "account to compete for; repeat or comma-separate (default: all registered)", ""},
                  {"lock-keys", "LOCK_KEYS", "hashtext|hashtextextended; must match the cluster's stored mode (default: the stored mode)", ""},
                  {"standby-wait", "STANDBY_WAIT", "poll (one try-lock query per tick) or block (a waiter session per account in pg_advisory_lock)", "poll"},
                  {"poll-interval", "POLL_INTERVAL", "standby poll interval (±20% jitter)", "500ms"},
                  {"heartbeat-interval", "HEARTBEAT_INTERVAL", "lock-session heartbeat interval", "1s"},
                  {"fence-after", "FENCE_AFTER", "fence when no heartbeat succeeded for this long (the database releases a silent leader 2 s later)", "3s"},
                  {"ha-profile", "HA_PROFILE", "default, or fast: heartbeat 200ms, fence 600ms, database release 1s (replaces --heartbeat-interval/--fence-after; a client stall > ~0.8s is a needless failover; docs/drills.md)", "default"},
                  {"shutdown-timeout", "SHUTDOWN_TIMEOUT", "graceful shutdown deadline after SIGTERM/SIGINT", "10s"},
                  {"wa-url", "WA_URL", "WhatsApp Web chat endpoint (ws:// or wss://; wasim for tests), or 'none': lead without a connection (election drills)", kProductionUrl},
                  {"wa-root-key", "WA_ROOT_KEY", "hex of the certificate root the server's chain must lead to (default: WhatsApp's production root)", ""},
                  {"allow-rls-bypass", "ALLOW_RLS_BYPASS", "start even when row-level security does not bind the database role (superuser, BYPASSRLS, the tables' owner): local demos only, never the manifests", "", true},
                  {"io-threads", "IO_THREADS", "threads of the one event loop every account's WhatsApp connection shares (0: one per core); they do not grow with accounts", "0"},
                  {"share-slack", "SHARE_SLACK", "balanced leadership (poll mode): a pod leads at most ceil(accounts / live pods) + this many accounts by choice", "1"},
                  {"takeover-grace", "TAKEOVER_GRACE", "balanced leadership: an account with no leader is taken by a pod it is not targeted at after this long (2x when over its share)", "1s"},
                  {"handover-interval", "HANDOVER_INTERVAL", "balanced leadership: at most one graceful handover to an account's preferred pod per this interval", "250ms"},
                  {"no-balance", "NO_BALANCE", "poll mode: every pod competes for every account (the first poller wins), no handovers", "", true},
                  {"give-up-backoff", "GIVE_UP_BACKOFF", "after a replaced/failed session, wait this long (doubling, capped at 2 min) before competing again", "2s"},
              });
  if (!flags.parse(argc, argv)) return 0;

  ha::ElectorConfig cfg;
  const std::string database_url = flags.str("database-url");
  if (auto err = check_database_url(database_url); !err.empty()) throw ConfigError("--database-url: " + err);
  // The elector's own URL is the lock URL: its lock and liveness sessions are the ones that must be
  // real sessions; everything else borrows from the store pool (database_url).
  cfg.database_url = flags.get("lock-database-url").value_or("");
  if (cfg.database_url.empty()) cfg.database_url = database_url;
  if (auto err = check_database_url(cfg.database_url); !err.empty()) throw ConfigError("--lock-database-url: " + err);
  for (const auto& p : database_url_passwords(cfg.database_url)) register_secret(p);
  const auto pool_size = static_cast<std::size_t>(flags.integer("store-pool-size", 1, 1000));
  const auto expected_replicas = static_cast<int>(flags.integer("expected-replicas", 0, 10000));
  cfg.pod = flags.get("pod").value_or("");
  if (cfg.pod.empty()) throw ConfigError("--pod (POD_NAME) is required: the hostname is unknown");
  if (auto err = check_pod_name(cfg.pod); !err.empty()) throw ConfigError("--pod: " + err);
  if (!cli_ids.empty()) {
    for (const auto& v : cli_ids)
      for (auto& id : split_ids(v)) cfg.business_ids.push_back(id);
  } else if (auto env = flags.get("business-id")) {
    cfg.business_ids = split_ids(*env);
  }
  for (const auto& id : cfg.business_ids)
    if (auto err = store::validate_business_id(id); !err.empty()) throw ConfigError(fmt::format("--business-id: {}", err));
  if (auto m = flags.get("lock-keys")) {
    cfg.lock_keys = store::parse_lock_key_mode(*m);
    if (!cfg.lock_keys) throw ConfigError(fmt::format("--lock-keys: '{}' is not hashtext or hashtextextended", *m));
  }
  const auto wait = flags.str("standby-wait");
  if (wait == "poll") {
    cfg.standby_wait = ha::StandbyWait::poll;
  } else if (wait == "block") {
    cfg.standby_wait = ha::StandbyWait::block;
  } else {
    throw ConfigError(fmt::format("--standby-wait: '{}' is not poll or block", wait));
  }
  cfg.poll_interval = flags.duration("poll-interval");
  cfg.heartbeat_interval = flags.duration("heartbeat-interval");
  cfg.fence_after = flags.duration("fence-after");
  if (const auto profile = flags.str("ha-profile"); profile == "fast") {
    // Measured on a partition: the server releases 0.81-0.98 s after the cut, the leader fenced
    // 0.40 s before that (idle_session_timeout = fence + margin = 1 s).
    cfg.heartbeat_interval = std::chrono::milliseconds(200);
    cfg.fence_after = std::chrono::milliseconds(600);
    cfg.fence_margin = std::chrono::milliseconds(400);
  } else if (profile != "default") {
    throw ConfigError(fmt::format("--ha-profile: '{}' is not default or fast", profile));
  }
  const auto shutdown_timeout = flags.duration("shutdown-timeout");
  if (shutdown_timeout.count() < 100) throw ConfigError("--shutdown-timeout must be at least 100ms");
  cfg.share_slack = static_cast<int>(flags.integer("share-slack", 0, 1000000));
  cfg.takeover_grace = flags.duration("takeover-grace");
  cfg.handover_interval = flags.duration("handover-interval");
  cfg.balance = !flags.boolean("no-balance");
  cfg.version = WACONN_VERSION;
  if (auto err = ha::validate(cfg); !err.empty()) throw ConfigError(err);
  const auto [http_host, http_port] = flags.host_port("http");
  if (auto err = check_listen_host(http_host); !err.empty()) throw ConfigError("--http: " + err);
  HttpOptions http_opts;
  http_opts.max_body_bytes = api::kMaxBodyBytes;
  if (const auto v = flags.str("http-threads"); v.size() <= 2 && !v.empty() && v.find_first_not_of("0123456789") == std::string::npos &&
                                                std::atoi(v.c_str()) >= 2 && std::atoi(v.c_str()) <= 64)
    http_opts.threads = std::atoi(v.c_str());
  else
    throw ConfigError("--http-threads: not a number from 2 to 64");
  if (const auto probe = flags.get("probe-http").value_or(""); probe == "off") {
    http_opts.probe_port = -1;
  } else if (probe.empty()) {
    http_opts.probe_port = http_port == 0 ? 0 : http_port + 1;
    if (http_opts.probe_port > 65535) throw ConfigError("--probe-http: --http's port + 1 is past 65535; set it");
  } else {
    const auto [probe_host, probe_port] = flags.host_port("probe-http");
    if (probe_host != http_host) throw ConfigError("--probe-http: must use --http's host " + http_host);
    http_opts.probe_port = probe_port;
  }
  std::string admin_token;
  try {
    admin_token = api::load_admin_token(flags.get("admin-token-file").value_or(""), "WACONN_ADMIN_TOKEN");
  } catch (const std::exception& e) {
    throw ConfigError(fmt::format("--admin-token-file: {}", e.what()));
  }
  client::ClientOptions wa_opts;
  wa_opts.url = flags.str("wa-url");
  const bool no_transport = wa_opts.url == "none";
  if (auto err = check_wa_url(wa_opts.url); !err.empty()) throw ConfigError("--wa-url: " + err);
  if (auto hex = flags.get("wa-root-key"); hex && !hex->empty()) {
    try {
      wa_opts.trusted_root = crypto::key32_from_hex(*hex, "--wa-root-key");
    } catch (const std::exception& e) {
      throw ConfigError(fmt::format("--wa-root-key: {} (64 hex digits expected)", e.what()));
    }
  }
  int io_threads = -1;
  if (const auto v = flags.str("io-threads"); !v.empty() && v.size() <= 4 && v.find_first_not_of("0123456789") == std::string::npos)
    io_threads = std::atoi(v.c_str());
  if (io_threads < 0 || io_threads > 1024) throw ConfigError("--io-threads: not a number from 0 to 1024");
  cfg.give_up_backoff_initial = flags.duration("give-up-backoff");
  if (cfg.give_up_backoff_initial.count() < 10) throw ConfigError("--give-up-backoff must be at least 10ms");
  if (cfg.give_up_backoff_max < cfg.give_up_backoff_initial) cfg.give_up_backoff_max = cfg.give_up_backoff_initial;

  wa::log::set_static_field("pod", cfg.pod);
  log_unresolvable_database_hosts(database_url);
  if (cfg.database_url != database_url) log_unresolvable_database_hosts(cfg.database_url);
  // A lock URL through transaction pooling would hold locks nobody holds: refused, with the reason.
  if (auto err = check_session_pinning(cfg.database_url, ha::application_name(cfg.pod, "session-check")); !err.empty())
    throw ConfigError((cfg.database_url == database_url ? "--database-url (also the lock URL): " : "--lock-database-url: ") + err);
  install_sealer(load_kek_ring(flags), database_url, ha::application_name(cfg.pod, "kek-check"));
  const std::string rls_json = check_row_level_security(database_url, flags.boolean("allow-rls-bypass"),
                                                        ha::application_name(cfg.pod, "rls-check"));
  check_connection_budget(cfg.database_url, ConnectionBudget{.pod = cfg.pod,
                                                             .pool_size = static_cast<int>(pool_size),
                                                             .expected_replicas = expected_replicas,
                                                             .block_mode = cfg.standby_wait == ha::StandbyWait::block,
                                                             .pooled_store = cfg.database_url != database_url});
  // The pod's PostgreSQL sessions besides the elector's lock and liveness sessions (issue 10: they
  // do not grow with accounts): the store pool, shared by every led account's stores, the
  // registry reads, the recorder, the API and the workers; and one notify hub that LISTENs for
  // all of them.
  const auto store_pool = ha::make_store_pool(ha::StoreSessionOptions{database_url, cfg.pod, 5000, 2000, 5000, nullptr}, pool_size);
  cfg.store_pool = store_pool;
  // Every led account's last-activity stamp, written with the pod's member beat in one statement.
  cfg.activity = std::make_shared<ha::ActivityBatch>();

  // Signals first: every thread created after this inherits the blocked mask.
  std::mutex stop_mu;
  ha::Elector* running = nullptr;
  bool stop_requested = false;
  ha::ShutdownSignals signals([&](int) {
    std::lock_guard lk(stop_mu);
    stop_requested = true;
    if (running) running->stop();
    // The deadline: whatever is stuck, the process is gone by then.
    std::thread([shutdown_timeout] {
      std::this_thread::sleep_for(shutdown_timeout);
      wa::log::error("shutdown_deadline_exceeded").kv("timeout_ms", static_cast<std::int64_t>(shutdown_timeout.count()));
      std::_Exit(1);
    }).detach();
  });

  // After the signals: its thread must inherit the blocked mask.
  store::NotifyHub notify_hub(store::NotifyHubOptions{cfg.database_url, ha::application_name(cfg.pod, "notify")});

  // Built in dependency order, each from what exists already: the lease table, the connection
  // factory whose stores find their account's lease there, the supervisor that publishes leases
  // and starts connections under them, and the elector that begins the leases.
  Metrics metrics;
  auto leases = std::make_shared<ha::Leases>();
  ha::LeasedDeviceStoreOptions store_opts;
  store_opts.pool = store_pool;
  store_opts.database_url = database_url;
  store_opts.pod = cfg.pod;
  store_opts.activity = cfg.activity;
  // The client reports what it received; the metrics are this process's.
  wa_opts.on_message_stored = [&metrics](const std::string& kind, double latency) {
    metrics.message_received(kind).Increment();
    metrics.receive_latency_seconds.Observe(latency);
  };
  wa_opts.on_decrypt_failure = [&metrics](const std::string& reason) { metrics.decrypt_failure(reason).Increment(); };
  wa_opts.on_message_sent = [&metrics](const std::string& kind, double latency) {
    metrics.message_sent(kind).Increment();
    metrics.send_latency_seconds.Observe(latency);
  };
  // One event loop for every account's connection (after the signal mask: its threads inherit it).
  if (!no_transport) wa_opts.io_pool = std::make_shared<socket::IoPool>(static_cast<std::size_t>(io_threads), "wa");
  // A database per tenant (store/tenants.h): at each lease the epoch is copied there first.
  store::install_tenant_password_source();
  store::TenantPoolOptions tenant_pools;
  tenant_pools.application_name = ha::application_name(cfg.pod, "tenant");
  tenant_pools.session_options = "-c statement_timeout=5000 -c lock_timeout=2000 -c idle_in_transaction_session_timeout=5000";
  tenant_pools.on_open = [](pg::Connection& c) { store::require_schema(c); };
  auto tenants = std::make_shared<store::TenantLeases>(store_pool, tenant_pools);
  client::WaClientFactory factory(wa_opts, [leases, store_opts, tenants](const std::string& business_id) -> std::unique_ptr<client::DeviceStore> {
    // The supervisor published the lease before it called the factory.
    auto lease = leases->get(business_id);
    if (!lease) throw std::logic_error("no lease published for business " + business_id);
    auto o = store_opts;
    if (auto t = tenants->begin(business_id, lease->fence()->epoch())) o.data_pool = t->pool;
    o.lease_fresh = [lease] { return lease->fresh(); };
    o.move_lock = [lease](const std::string&, std::int64_t key, std::function<void()> commit, std::function<bool()> abandon) {
      return lease->move_key(key, std::move(commit), std::move(abandon));
    };
    return std::make_unique<ha::LeasedDeviceStore>(std::move(o), business_id, lease->fence());
  }, [leases, store_opts, tenants](const std::string& business_id) -> std::unique_ptr<client::MessageStore> {
    // The account's Signal state, inbox, outbox and LID map, on the store pool (its tenant
    // database's pool, if it has one), under the same lease as the device store.
    auto lease = leases->get(business_id);
    if (!lease) throw std::logic_error("no lease published for business " + business_id);
    ha::LeasedMessageStoreOptions o;
    o.pool = store_opts.pool;
    o.database_url = store_opts.database_url;
    if (auto t = tenants->begin(business_id, lease->fence()->epoch())) o.pool = t->pool;
    o.pod = store_opts.pod;
    o.lease_fresh = [lease] { return lease->fresh(); };
    return std::make_unique<ha::LeasedMessageStore>(std::move(o), business_id, lease->fence());
  });
  // Destroyed right after the supervisor (its connections): a client handler still running on the
  // pool uses the metrics and stores declared above, so the pool's threads end before those do.
  struct IoPoolStop {
    std::shared_ptr<socket::IoPool> pool;
    ~IoPoolStop() {
      if (pool) pool->shutdown();
    }
  } io_pool_stop{wa_opts.io_pool};
  ha::Supervisor supervisor(no_transport ? nullptr : &factory, leases);
  ha::Elector elector(cfg, metrics, supervisor);
  // Generous: a connect to an unreachable database may block the loop for a few seconds.
  Watchdog watchdog(std::chrono::seconds(30));
  watchdog.beat();
  // Every disconnect reason and decoder exists at 0 from the start, so that a pod's first logout
  // is an increase() for the WaconnectorLoggedOut alert (a series born at 1 shows no increase)
  // and dashboards show zeros, not gaps.
  for (int r = 0; r <= static_cast<int>(core::DisconnectReason::unknown); ++r)
    metrics.disconnect(core::to_string(static_cast<core::DisconnectReason>(r)));
  for (const char* what : {"frame", "node", "handshake", "websocket"}) metrics.decode_error(what);
  elector.set_on_loop([&watchdog] { watchdog.beat(); });

  HttpHandlers handlers;
  handlers.live = [&watchdog] { return !watchdog.stalled(); };
  handlers.ready = [&] { return evaluate_ready(pod_status(cfg.pod, elector.snapshot())); };
  handlers.status_json = [&] {
    const auto snap = elector.snapshot();
    std::string body = render_status_json(pod_status(cfg.pod, snap));
    // /status is anonymous: the elector's last error (libpq's text names database hosts and
    // ports) stays in the log; only whether there is one shows here.
    std::string extra = "\"wa_url\":";
    wa::log::append_json_string(extra, wa_opts.url);
    extra += snap.last_error.empty() ? ",\"last_error\":null" : ",\"last_error\":\"see the pod's log\"";
    extra += ",\"row_level_security\":" + rls_json;
    return "{" + extra + "," + body.substr(1);
  };
  handlers.metrics = &metrics;
  std::unique_ptr<HttpServer> http;
  try {
    http = std::make_unique<HttpServer>(http_host, http_port, handlers, http_opts);
  } catch (const std::exception& e) {
    throw ConfigError(fmt::format("--http: {}", e.what()));
  }
  // Every pod serves the API (and the account's pairing QR) from the database, leader or not.
  // SSE streams hold a civetweb worker each: at most half of them (the REST calls keep the rest).
  api::EventStreamOptions stream_opts;
  stream_opts.max_streams = std::max(1, http_opts.threads / 2);
  // A tenant account's messages, events and webhooks are in its tenant database.
  const auto data_pool = [tenants](const std::string& business_id) { return tenants->data_pool(business_id); };
  stream_opts.data_pool = data_pool;
  api::register_api_routes(
      *http, std::make_shared<const api::Api>(store_pool, std::move(admin_token),
                                              std::make_shared<api::EventStreams>(notify_hub, store_pool, stream_opts),
                                              data_pool));
  // The write fences of the accounts this pod leads now (the leader-side responders' work list).
  const auto led_fences = [&elector, &supervisor] {
    std::vector<std::shared_ptr<const store::WriteFence>> led;
    for (const auto& a : elector.snapshot().accounts)
      if (ha::leads(a.role))
        if (auto fence = supervisor.write_fence(a.business_id)) led.push_back(std::move(fence));
    return led;
  };
  // `accounts pair --phone`: the leader asks its client for the linking code.
  PairCodeResponder pair_codes(
      notify_hub, store_pool, cfg.pod, led_fences,
      [&supervisor](const std::string& business_id, const std::string& phone, bool push) {
        auto conn = supervisor.connection(business_id);
        if (conn == nullptr) throw std::runtime_error("this pod runs no WhatsApp connection for the account");
        return conn->request_pair_code(phone, push, std::chrono::seconds(30));
      });
  // DELETE /v1/accounts/{id}/session: the leader logs the account's device out.
  api::LogoutResponder logouts(
      notify_hub, store_pool, led_fences,
      [&supervisor](const std::string& business_id, std::chrono::milliseconds timeout) {
        auto conn = supervisor.connection(business_id);
        if (conn == nullptr) throw std::runtime_error("this pod runs no WhatsApp connection for the account");
        conn->logout(timeout);
      });
  // Outbox rows queued by any pod: wake the led accounts' clients to claim and send them.
  std::unique_ptr<ha::OutboxDispatcher> outbox;
  if (!no_transport) {
    ha::OutboxDispatcherOptions outbox_opts;
    // The backlog of the accounts this pod leads, one query per database per round (issue 10):
    // tenant accounts' rows are in their own databases, the others here.
    outbox_opts.backlog = [tenants](store::ConnectionPool& control, const std::vector<store::OutboxLease>& leases) {
      std::vector<std::string> ids;
      for (const auto& l : leases) ids.push_back(l.business_id);
      std::map<std::shared_ptr<store::ConnectionPool>, std::vector<store::OutboxLease>> by_tenant;
      auto out = control.with([&](pg::Connection& conn) {
        const auto in_tenants = tenants->tenant_pools(conn, ids);
        std::vector<store::OutboxLease> here;
        for (const auto& l : leases)
          if (const auto t = in_tenants.find(l.business_id); t != in_tenants.end())
            by_tenant[t->second].push_back(l);
          else
            here.push_back(l);
        return store::outbox_backlog(conn, here);
      });
      for (const auto& [pool, in_pool] : by_tenant) {
        const auto b = pool->with([&, &in_pool = in_pool](pg::Connection& t) { return store::outbox_backlog(t, in_pool); });
        out.claimable.insert(b.claimable.begin(), b.claimable.end());
        out.queued += b.queued;
      }
      return out;
    };
    // waconnector_outbox_pending: the backlog of the accounts this pod leads (the alert sums pods).
    outbox_opts.on_queued = [&metrics](std::int64_t n) { metrics.outbox_pending.Set(static_cast<double>(n)); };
    outbox = std::make_unique<ha::OutboxDispatcher>(
        notify_hub, store_pool,
        [&elector, &supervisor] {
          std::vector<ha::LedConnection> led;
          for (const auto& a : elector.snapshot().accounts)
            if (ha::leads(a.role))
              if (auto conn = supervisor.connection(a.business_id)) {
                // The epoch the connection's claims are fenced by.
                const auto fence = supervisor.write_fence(a.business_id);
                led.push_back({a.business_id, fence ? fence->epoch() : a.epoch, std::move(conn)});
              }
          return led;
        },
        outbox_opts);
  }
  // The accounts' webhook deliveries, sent by their leader (this pod, for those it leads).
  api::WebhookSenderOptions webhook_opts;
  webhook_opts.on_pending = [&metrics](std::int64_t n) { metrics.webhook_pending.Set(static_cast<double>(n)); };
  webhook_opts.on_dead_letter = [&metrics] { metrics.webhook_dead_letters.Increment(); };
  webhook_opts.tenant_pools = [tenants](const std::vector<std::string>& ids) { return tenants->tenant_pools(ids); };
  webhook_opts.tenant_round = [](const store::WriteFence& fence, store::ConnectionPool& control, store::ConnectionPool& tenant) {
    control.with([&](pg::Connection& c) {
      tenant.with([&](pg::Connection& t) { store::relay_account_events(c, t, fence); });
    });
  };
  api::WebhookSender webhooks(notify_hub, store_pool, led_fences, webhook_opts);
  wa::log::info("run_started")
      .kv("http_port", http->port())
      .kv("probe_port", http->probe_port())
      .kv("wa_url", wa_opts.url)
      .kv("wa_root", wa_opts.trusted_root == crypto::Key32{} ? "production" : "custom")
      .kv("store_pool_size", static_cast<std::int64_t>(pool_size))
      .kv("accounts", cfg.business_ids.empty() ? std::string("all") : fmt::format("{}", cfg.business_ids.size()));

  {
    std::lock_guard lk(stop_mu);
    running = &elector;
    if (stop_requested) elector.stop();
  }
  try {
    elector.run();
  } catch (const store::LockKeyModeMismatch& e) {
    throw ConfigError(fmt::format("--lock-keys: {}", e.what()));
  }
  {
    std::lock_guard lk(stop_mu);
    running = nullptr;
  }
  pair_codes.stop();
  outbox.reset();
  webhooks.stop();
  http.reset();
  wa::log::info("run_stopped");
  return 0;
}

}  // namespace wa::app
