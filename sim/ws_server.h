// wasim's WebSocket listener on standalone Asio: accepts TCP connections, performs the HTTP
// upgrade (sim/http_upgrade.h), runs the RFC 6455 framing and hands every complete binary message
// to a per-connection protocol session. One io_context thread runs everything here, thousands of
// connections included (no thread or read buffer per connection).
#pragma once

#include <asio.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "sim/connection_log.h"

namespace wa::sim {

// What a protocol session may do with its connection. Valid until the session's on_closed().
class WsLink {
 public:
  virtual ~WsLink() = default;
  virtual std::uint64_t id() const = 0;
  // Queues one binary WebSocket message.
  virtual void send_binary(std::string bytes) = 0;
  // Sends a WebSocket close frame after everything queued, then closes the socket. The first
  // reason is the one recorded. `kind` non-empty counts a malformed-input error of that kind.
  virtual void close(std::uint16_t ws_code, const std::string& reason, const std::string& kind = {}) = 0;
  // Closes the connection (1008, `reason`) unless cleared in time; zero clears it. For protocol
  // stages with their own time limit, e.g. the Noise handshake.
  virtual void set_deadline(std::chrono::milliseconds after, const std::string& reason) = 0;
};

class WsSession {
 public:
  virtual ~WsSession() = default;
  virtual void on_binary(std::string_view message) = 0;
  // The connection is gone (any reason); the link must not be used any more.
  virtual void on_closed() {}
};

using SessionFactory = std::function<std::unique_ptr<WsSession>(WsLink&)>;

struct WsServerOptions {
  std::string path = "/ws/chat";
  std::chrono::milliseconds upgrade_timeout{10000};
  // No client message for this long closes the connection. Clients ping every 20-30 s.
  std::chrono::milliseconds idle_timeout{120000};
  std::size_t max_message_bytes = (1u << 24) + 16;  // one WA frame + header + slack
  // Every device connection is one socket and a few hundred bytes here; the process's file
  // descriptor limit (main raises it to the hard limit) is the real bound.
  std::size_t max_connections = 100000;
};

class WsServer {
 public:
  WsServer(asio::io_context& io, const std::string& host, int port, WsServerOptions options, SessionFactory factory,
           ConnectionLog& log);
  ~WsServer();
  int port() const { return port_; }
  // Stops accepting and closes every connection (close frame 1001 "going away").
  void stop();

  class Connection;

 private:
  void accept();
  asio::io_context& io_;
  asio::ip::tcp::acceptor acceptor_;
  asio::steady_timer retry_timer_;  // accept again after an error (EMFILE)
  WsServerOptions options_;
  SessionFactory factory_;
  ConnectionLog& log_;
  int port_ = 0;
  bool stopped_ = false;
  std::unordered_map<std::uint64_t, std::weak_ptr<Connection>> connections_;
  friend class Connection;
};

}  // namespace wa::sim
