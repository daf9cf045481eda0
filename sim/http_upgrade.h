// The WebSocket opening handshake, server side (RFC 6455 §4.2). wasim needs the raw socket after
// the upgrade to speak WebSocket frames itself, and civetweb (our HTTP server) cannot hand its
// socket over, so this is a tiny request-line/header parser with hard size limits instead of a
// general HTTP implementation. It accepts exactly one request: GET <path> with the upgrade headers.
#pragma once

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace wa::sim {

struct UpgradeLimits {
  std::size_t max_header_bytes = 8192;  // request line + headers + blank line
  std::size_t max_headers = 64;
  std::size_t max_line_bytes = 2048;
};

// A rejected upgrade: `status` is the HTTP status to answer with, `what()` the reason.
class UpgradeError : public std::runtime_error {
 public:
  UpgradeError(int status, const std::string& reason) : std::runtime_error(reason), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

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
  // WebSocket upgrade for `expected_path`.
  std::optional<UpgradeRequest> feed(std::string_view bytes, std::string_view expected_path);
  std::string leftover() const { return leftover_; }

 private:
  UpgradeRequest parse(std::string_view head, std::string_view expected_path) const;
  UpgradeLimits limits_;
  std::string buf_;
  std::string leftover_;
  bool done_ = false;
};

// Sec-WebSocket-Accept for a key: base64(SHA-1(key + GUID)).
std::string websocket_accept(std::string_view key);
// The "101 Switching Protocols" response for an accepted request.
std::string upgrade_response(const UpgradeRequest& req);
// A small error response that closes the connection; the body is a JSON reason.
std::string http_error_response(int status, std::string_view reason);

}  // namespace wa::sim
