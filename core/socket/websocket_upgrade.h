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

class UpgradeError : public std::runtime_error {
 public:
  explicit UpgradeError(const std::string& what) : std::runtime_error("websocket upgrade: " + what) {}
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
  std::string path;
  std::map<std::string, std::string> headers;  // lower-case names
};
// Server side: parses and validates a client's upgrade request head. Throws UpgradeError.
ParsedUpgradeRequest parse_ws_upgrade_request(std::string_view head);
std::string build_ws_upgrade_response(std::string_view client_key);

}  // namespace wa::socket
