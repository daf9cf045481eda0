// wasim's side of the WebSocket opening handshake (RFC 6455 §4.2). wasim needs the raw socket
// after the upgrade to speak WebSocket frames itself, and civetweb (our HTTP server) cannot hand
// its socket over. The request is parsed and checked by core/socket's parse_ws_upgrade_request
// (the same code the client's tests serve with); this file adds only what a server needs around
// it: incremental buffering with a size bound and the HTTP error reply.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/socket/websocket_upgrade.h"

namespace wa::sim {

using socket::UpgradeError;   // status(): the HTTP status to answer with
using socket::UpgradeLimits;

struct UpgradeRequest {
  std::string path;             // without the query string
  std::string query;            // raw, without '?'
  std::string websocket_key;    // Sec-WebSocket-Key as sent
  std::string origin;           // empty if absent
  std::string user_agent;       // empty if absent
};

// Incremental: feed bytes as they arrive until it returns the request. Bytes after the blank line
// (a client may pipeline its first WebSocket frame) are returned by leftover().
class UpgradeParser {
 public:
  explicit UpgradeParser(UpgradeLimits limits = {}) : limits_(limits) {}

  // Returns the request once the header block is complete; empty while more bytes are needed.
  // Throws UpgradeError on malformed or oversized input, or when the request is not a valid
  // WebSocket upgrade for `expected_path` (404).
  std::optional<UpgradeRequest> feed(std::string_view bytes, std::string_view expected_path);
  std::string leftover() const { return leftover_; }

 private:
  UpgradeLimits limits_;
  std::string buf_;
  std::string leftover_;
  bool done_ = false;
};

// The "101 Switching Protocols" response for an accepted request.
std::string upgrade_response(const UpgradeRequest& req);
// A small error response that closes the connection; the body is a JSON reason.
std::string http_error_response(int status, std::string_view reason);

}  // namespace wa::sim
