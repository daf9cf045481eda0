#pragma once

#include <string>
#include <string_view>

namespace wa::socket {

// WhatsApp Web's chat endpoint: the default of every client option and flag that names one.
inline constexpr char kWaProductionUrl[] = "wss://web.whatsapp.com/ws/chat";

// ws://host[:port]/path or wss://host[:port]/path (IPv6 literals in brackets).
struct WsUrl {
  bool tls = true;
  std::string host;
  std::string port;  // "443"/"80" by default
  std::string path = "/";
  // Host header value: host plus :port only when the port is not the scheme's default.
  std::string host_header() const;
};

// Throws std::invalid_argument naming what is wrong.
WsUrl parse_ws_url(std::string_view url);

}  // namespace wa::socket
