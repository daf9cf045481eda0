// The REST interface on every pod (issue 9): JSON over civetweb, state in PostgreSQL only, so any
// pod answers and a send reaches the account's leader through the outbox while leaders change.
//
//   GET  /v1/accounts                                  admin: every account
//   POST /v1/accounts                                  admin: register {"business_id","jid"?}
//   GET  /v1/accounts/{business_id}                    status: connection, leader pod, epoch, failovers
//   POST /v1/accounts/{business_id}/messages           queue {"to","text"}; Idempotency-Key header
//   GET  /v1/accounts/{business_id}/messages/{id}      an outgoing message's status
//   GET  /v1/accounts/{business_id}/inbox?after=&limit= received messages after a cursor
//   GET  /v1/accounts/{business_id}/events             Server-Sent Events (app/api/event_stream.h)
//   DELETE /v1/accounts/{business_id}/session          log out: the leader unlinks the device
//   GET  /v1/accounts/{business_id}/qr                 the pairing QR (app/qr_endpoint.h)
//   POST /v1/accounts/{business_id}/pair-code          ask the leader for a pair code {"phone"}
//   GET  /v1/accounts/{business_id}/pair-code/{id}     that request's state and code
//   GET|POST   /v1/accounts/{business_id}/webhooks                      list | register {"url","events","secret"?}
//   GET|DELETE /v1/accounts/{business_id}/webhooks/{id}                 one endpoint (no secret) | remove
//   GET  /v1/accounts/{business_id}/webhooks/{id}/deliveries            the delivery log, newest first
//   POST /v1/accounts/{business_id}/webhooks/{id}/deliveries/{d}/redeliver   send again (same event id)
//
// Every endpoint needs a bearer token (app/api/auth.h). Errors are {"error":{"code","message"}};
// database failures answer 503 without libpq's text (it names hosts and ports).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "app/api/auth.h"
#include "app/api/event_stream.h"
#include "app/http_server.h"
#include "app/qr_endpoint.h"

namespace wa::store {
class ConnectionPool;
}

namespace wa::app::api {

inline constexpr int kDefaultInboxLimit = 100;
inline constexpr int kMaxInboxLimit = 500;
// How long DELETE .../session waits for the leader's answer before it answers 202.
inline constexpr int kLogoutWaitSteps = 200;
inline constexpr std::chrono::milliseconds kLogoutWaitStep{100};

class Api {
 public:
  // `events` serves GET .../events; without it that endpoint answers 503.
  // The pool holding an account's data rows (inbox, outbox, events, webhooks): its tenant
  // database's (store/tenants.h TenantLeases::data_pool) or the control pool.
  using DataPools = std::function<std::shared_ptr<store::ConnectionPool>(const std::string& business_id)>;
  // `data_pools` empty: every account's rows are in `pool`'s database.
  Api(std::shared_ptr<store::ConnectionPool> pool, std::string admin_token,
      std::shared_ptr<EventStreams> events = nullptr, DataPools data_pools = {});
  HttpResponse handle(const HttpRequest& req) const;

 private:
  HttpResponse log_out(const std::string& business) const;
  std::shared_ptr<store::ConnectionPool> data_pool(const std::string& business) const;

  std::shared_ptr<store::ConnectionPool> pool_;
  std::shared_ptr<EventStreams> events_;
  DataPools data_pools_;
  Authenticator auth_;
  PairingStateReader pairing_;
};

// Serves `api` for every /v1/ path on `server` (all methods).
void register_api_routes(HttpServer& server, std::shared_ptr<const Api> api);

}  // namespace wa::app::api
