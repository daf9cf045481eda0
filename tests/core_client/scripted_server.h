// A WhatsApp Web server whose stanza behaviour each test scripts: WebSocket (wasim's WsServer),
// connection header, Noise XX responder (core/socket ServerHandshake) with a certificate chain
// under its own root, then node frames handed to the test's handlers on the server's thread.
// For client behaviour wasim cannot be told to show (a pair-success with a wrong HMAC, a server
// that stops answering pings but keeps the socket, ...).
#pragma once

#include <asio.hpp>

#include <chrono>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/binary/node.h"
#include "core/crypto/x25519.h"
#include "sim/connection_log.h"
#include "sim/server_identity.h"
#include "sim/ws_server.h"
#include "tests/sim/harness.h"
#include "wa_client_payload.pb.h"

namespace wa::clienttest {

class ScriptedServer {
 public:
  // Run on the server thread; they may call send()/close() (which then act at once).
  using PayloadHandler = std::function<void(ScriptedServer&, std::uint64_t conn, const wa::proto::ClientPayload&)>;
  using NodeHandler = std::function<void(ScriptedServer&, std::uint64_t conn, const binary::Node&)>;

  ScriptedServer(PayloadHandler on_payload, NodeHandler on_node);
  ~ScriptedServer();

  int port() const { return port_; }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/ws/chat"; }
  const crypto::Key32& root() const { return identity_.root.pub; }

  void send(std::uint64_t conn, const binary::Node& node);
  // WebSocket close after what is queued.
  void close(std::uint64_t conn);

  struct Received {
    std::uint64_t conn;
    binary::Node node;
  };
  // Waits until `pred` holds for the nodes received so far.
  bool wait(const std::function<bool(const std::vector<Received>&)>& pred, std::chrono::milliseconds timeout);
  std::vector<Received> received();
  // Connections that completed the handshake, in order, with their payload kind.
  std::vector<std::pair<std::uint64_t, bool /*login*/>> logins();
  std::size_t open_count() const { return log_.open_count(); }
  // WebSocket payload bytes received from clients so far (all connections, handshake included).
  std::size_t bytes_received() const { return bytes_received_.load(); }
  // While held, ServerHellos are kept back (the client waits in its handshake); release sends them.
  void hold_server_hello(bool hold) { hold_hello_ = hold; }
  void release_server_hellos();
  int client_hellos();  // ClientHellos received so far

  class Session;

 private:
  friend class Session;
  void record(std::uint64_t conn, binary::Node n);
  void record_payload(std::uint64_t conn, bool login);

  simtest::TempDir dir_;
  sim::ServerIdentity identity_;
  sim::ConnectionLog log_;
  PayloadHandler on_payload_;
  NodeHandler on_node_;
  // Declared before io_: connections still queued in io_ are destroyed with it and unregister here.
  std::map<std::uint64_t, Session*> sessions_;  // server thread only
  asio::io_context io_;
  std::unique_ptr<sim::WsServer> ws_;
  std::thread thread_;
  int port_ = 0;

  std::atomic<bool> hold_hello_{false};
  std::atomic<std::size_t> bytes_received_{0};
  std::vector<std::pair<std::uint64_t, crypto::Bytes>> held_;  // server thread only
  int client_hellos_ = 0;                                      // under mu_
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Received> received_;
  std::vector<std::pair<std::uint64_t, bool>> logins_;
};

}  // namespace wa::clienttest
