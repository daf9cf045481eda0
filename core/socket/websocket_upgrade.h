// The HTTP/1.1 upgrade that opens a WebSocket (RFC 6455 §4), as pure functions: the client's
// request and its check of the 101 response, and (for wasim) the server's parse of the request
// and its 101 reply. Only the upgrade head is parsed: tiny, bounded, no general HTTP.
#pragma once

#include <map>
#include <stdexcept>
#include <string>
#include <string_view>

namespace wa::socket {

inline constexpr std::size_t kMaxUpgradeHeadSize = 8192;

// `status()` is the HTTP status a server answers a rejected request with (400 unless said).
class UpgradeError : public std::runtime_error {
 public:
  explicit UpgradeError(const std::string& what, int status = 400)
      : std::runtime_error("websocket upgrade: " + what), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

// Bounds on an upgrade head (request or response); over them: UpgradeError with status 431.
struct UpgradeLimits {
  std::size_t max_head_bytes = kMaxUpgradeHeadSize;  // first line + headers + blank line
  std::size_t max_headers = 64;
  std::size_t max_line_bytes = 2048;
};

// base64(SHA-1(key + RFC 6455 GUID)).
std::string ws_accept_key(std::string_view client_key);
// base64 of 16 random bytes.
std::string make_ws_client_key();

struct WsUpgradeRequest {
  std::string host;  // Host header value (with :port when not the default)
  std::string path = "/";
  std::string key;   // Sec-WebSocket-Key
  std::string origin;
  std::string user_agent;  // omitted when empty
};

// The header lines WhatsApp Web's own client sends (Origin, Cache-Control, Pragma).
std::string build_ws_upgrade_request(const WsUpgradeRequest& req);

// `head` is everything up to and including the blank line. Throws UpgradeError unless it is a
// 101 with Upgrade: websocket, Connection: Upgrade, the right Sec-WebSocket-Accept and no
// extension or subprotocol we did not offer.
void check_ws_upgrade_response(std::string_view head, std::string_view client_key);

struct ParsedUpgradeRequest {
  std::string method;
  std::string path;   // the request target without its query
  std::string query;  // raw, without '?'
  std::map<std::string, std::string> headers;  // lower-case names
};
// Server side: parses and validates a client's upgrade request head (up to and including the
// blank line): GET, HTTP/1.1, an absolute path, Host, Upgrade/Connection, version 13 and a
// 16-byte key; and, when `expected_path` is given, that path (404 otherwise, checked before the
// upgrade headers, as a web server answers a request for a page it does not have). Throws
// UpgradeError with the HTTP status to answer (400, 404, 405, 426, 431).
ParsedUpgradeRequest parse_ws_upgrade_request(std::string_view head, const UpgradeLimits& limits = {},
                                              std::string_view expected_path = {});
std::string build_ws_upgrade_response(std::string_view client_key);

}  // namespace wa::socket
