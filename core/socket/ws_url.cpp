#include "core/socket/ws_url.h"

#include <stdexcept>

namespace wa::socket {

std::string WsUrl::host_header() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port != (tls ? "443" : "80")) h += ":" + port;
  return h;
}

WsUrl parse_ws_url(std::string_view url) {
  WsUrl u;
  if (url.size() > 2048) throw std::invalid_argument("websocket URL too long");
  if (url.rfind("wss://", 0) == 0) {
    u.tls = true;
    url.remove_prefix(6);
  } else if (url.rfind("ws://", 0) == 0) {
    u.tls = false;
    url.remove_prefix(5);
  } else {
    throw std::invalid_argument("websocket URL must start with ws:// or wss://");
  }
  std::size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  u.path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  if (authority.find('@') != std::string_view::npos) throw std::invalid_argument("websocket URL must not carry credentials");
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("unterminated IPv6 literal in websocket URL");
    u.host = std::string(authority.substr(1, close - 1));
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') throw std::invalid_argument("junk after IPv6 literal in websocket URL");
      port = rest.substr(1);
    }
  } else {
    std::size_t colon = authority.find(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (u.host.empty()) throw std::invalid_argument("websocket URL has no host");
  if (port.empty()) {
    u.port = u.tls ? "443" : "80";
  } else {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos || std::stoi(std::string(port)) == 0 ||
        std::stoi(std::string(port)) > 65535) {
      throw std::invalid_argument("bad port in websocket URL");
    }
    u.port = std::string(port);
  }
  for (char c : u.path) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) throw std::invalid_argument("websocket URL path has control characters or spaces");
  }
  return u;
}

}  // namespace wa::socket
