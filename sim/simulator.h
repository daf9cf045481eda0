// The whole simulator: state dir (root key, device registry), its certificate identity, the
// WebSocket listener with one protocol session per connection, and the admin API.
#pragma once

#include <asio.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "sim/admin_server.h"
#include "sim/connection_log.h"
#include "sim/device_registry.h"
#include "sim/group_registry.h"
#include "sim/message_router.h"
#include "sim/phone_messenger.h"
#include "sim/phone_registry.h"
#include "sim/prekey_server.h"
#include "sim/server_identity.h"
#include "sim/session_hub.h"
#include "sim/ws_server.h"

namespace wa::sim {

struct SimulatorConfig {
  std::string listen_host = "127.0.0.1";
  int listen_port = 0;
  std::string admin_host = "127.0.0.1";
  int admin_port = 0;
  std::filesystem::path state_dir;
  std::chrono::milliseconds handshake_timeout{20000};
  std::chrono::milliseconds qr_ttl_first{60000};     // §6.2: the first ref is live 60 s
  std::chrono::milliseconds qr_ttl{20000};           // each later one 20 s
  std::chrono::milliseconds first_stanza_delay{20};  // handshake -> first stanza (Baileys 6)
  std::string addressing = "auto";                   // sim/addressing.h
};

class Simulator {
 public:
  // Loads/creates the state, binds both ports. Throws std::runtime_error with context on failure.
  Simulator(asio::io_context& io, SimulatorConfig cfg);
  ~Simulator();
  // Logs the root key and the "wasim_listening" line (call once the caller is ready to run io).
  void start();
  // Graceful: stop accepting, close every connection, stop the admin API. Call on the io thread.
  void stop();

  int ws_port() const { return ws_->port(); }
  int admin_port() const { return admin_->port(); }
  const ServerIdentity& identity() const { return identity_; }
  ConnectionLog& connections() { return log_; }
  DeviceRegistry& devices() { return devices_; }

 private:
  void register_admin_routes();
  void register_phone_routes();
  void register_group_routes();  // group_routes.cpp
  // GET/POST /admin/phones/{phone}/messages (phone_message_routes.cpp)
  AdminResponse phone_messages(const std::string& phone_text, const AdminRequest& req);
  // POST /admin/phones/{phone}/read {"ids": [...]}: read receipts (phone_message_routes.cpp)
  AdminResponse phone_read(const std::string& phone_text, const AdminRequest& req);
  // The phone named by `text` ("+15550001" or digits). Throws AdminError: 400 malformed, 404 unknown.
  PhoneRecord known_phone(const std::string& text) const;
  // Runs `f` on the io thread (where sessions live) and waits for its answer; 503 if the io
  // thread does not get to it within 5 s (shutting down).
  AdminResponse on_io(std::function<AdminResponse()> f);
  asio::io_context& io_;
  SimulatorConfig cfg_;
  ConnectionLog log_;
  DeviceRegistry devices_;
  PhoneRegistry phones_;
  SessionHub hub_;
  PreKeyServer keys_;
  GroupRegistry groups_;
  MessageRouter router_;
  PhoneMessenger messenger_;
  std::set<std::uint64_t> phone_wake_;  // phones with a read of their device 0 queue posted (io thread)
  ServerIdentity identity_;
  std::unique_ptr<AdminServer> admin_;
  std::unique_ptr<WsServer> ws_;
};

}  // namespace wa::sim
