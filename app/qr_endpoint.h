// GET /v1/accounts/{business_id}/qr on every pod (behind the API's bearer token, app/api/routes.h): the account's current pairing QR, read from
// wa_accounts (the leader writes it there), so a standby serves it as well as the leader.
//   Accept: application/json (default) -> {"business_id","qr","expires_at","expires_at_ms"}
//   Accept: image/png                 -> the QR symbol as PNG
//   Accept: image/svg+xml             -> the QR symbol as SVG
//   ?format=json|png|svg overrides Accept (for browsers and curl one-liners).
// 400 bad business id, 404 unknown account or not pairing (no live QR), 406 nothing acceptable,
// 503 database unavailable. The QR string itself is never logged.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "app/http_server.h"
#include "store/pairing.h"

namespace wa::app {

using store::PairingState;

// Where the endpoint reads an account's pairing state; nullopt = not registered. May throw
// (pg::Error -> 503). Called on civetweb's worker threads: must be thread-safe.
using PairingStateReader = std::function<std::optional<PairingState>(const std::string& business_id)>;

// Reads PostgreSQL at `database_url` through a small connection pool owned by the reader.
PairingStateReader pg_pairing_state_reader(std::string database_url);

// Adds the route to `server` WITHOUT authentication (tests of the endpoint alone); `waconnector
// run` serves it through the API router instead, behind a token (app/api/routes.h).
void register_qr_routes(HttpServer& server, PairingStateReader reader);
// The same with a PostgreSQL reader.
inline void register_qr_routes(HttpServer& server, const std::string& database_url) {
  register_qr_routes(server, pg_pairing_state_reader(database_url));
}

enum class QrFormat { json, png, svg };
// The format for an Accept header (q-values honoured; */* and image/* allowed) and the query
// string's format=...; nullopt when nothing offered is acceptable. An empty Accept means JSON.
std::optional<QrFormat> choose_qr_format(std::string_view accept, std::string_view query);

// The route's handler itself (exposed for tests).
HttpResponse handle_qr_request(const HttpRequest& req, const PairingStateReader& reader);

}  // namespace wa::app
