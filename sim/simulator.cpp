#include "sim/simulator.h"

#include <charconv>
#include <future>

#include "common/log.h"
#include "core/crypto/bytes.h"
#include "sim/wa_session.h"

namespace wa::sim {

Simulator::Simulator(asio::io_context& io, SimulatorConfig cfg)
    : io_(io),
      cfg_(std::move(cfg)),
      devices_(cfg_.state_dir),
      phones_(cfg_.state_dir),
      keys_(cfg_.state_dir),
      groups_(cfg_.state_dir),
      router_(cfg_.state_dir, devices_, hub_, keys_, groups_),
      messenger_(cfg_.state_dir, keys_, router_, groups_),
      identity_(ServerIdentity::create(cfg_.state_dir)) {
  SessionContext ctx{&identity_, &devices_, &log_};
  ctx.handshake_timeout = cfg_.handshake_timeout;
  ctx.phones = &phones_;
  ctx.hub = &hub_;
  ctx.router = &router_;
  ctx.io = &io_;
  ctx.qr_ttl_first = cfg_.qr_ttl_first;
  ctx.qr_ttl = cfg_.qr_ttl;
  ctx.first_stanza_delay = cfg_.first_stanza_delay;
  ctx.addressing = cfg_.addressing;
  // A virtual phone reads what reaches its device 0 right away and answers with a delivery
  // receipt, as an online phone does; posted, so the sender's ack goes out first.
  router_.on_primary_pending([this](std::uint64_t user) {
    if (!phone_wake_.insert(user).second) return;
    asio::post(io_, [this, user] {
      phone_wake_.erase(user);
      if (auto p = phones_.find(user)) messenger_.receive(*p);
    });
  });
  ws_ = std::make_unique<WsServer>(
      io_, cfg_.listen_host, cfg_.listen_port, WsServerOptions{},
      [ctx](WsLink& link) { return std::make_unique<WaSession>(ctx, link); }, log_);
  admin_ = std::make_unique<AdminServer>(cfg_.admin_host, cfg_.admin_port);
  register_admin_routes();
  register_phone_routes();
  register_group_routes();
  admin_->start();
}

AdminResponse Simulator::on_io(std::function<AdminResponse()> f) {
  auto p = std::make_shared<std::promise<AdminResponse>>();
  auto fut = p->get_future();
  asio::post(io_, [p, f = std::move(f)] {
    try {
      p->set_value(f());
    } catch (...) {
      p->set_exception(std::current_exception());
    }
  });
  if (fut.wait_for(std::chrono::seconds(5)) != std::future_status::ready)
    return AdminResponse::error(503, "the simulator did not get to the request within 5 s");
  return fut.get();
}

Simulator::~Simulator() {
  admin_.reset();  // no admin handler may run while the rest is destroyed
  ws_.reset();
}

void Simulator::start() {
  const auto root_hex = wa::crypto::to_hex(identity_.root.pub);
  wa::log::info("wasim_root_key").kv("root_public_key", root_hex).kv("state_dir", cfg_.state_dir.string());
  wa::log::info("wasim_listening")
      .kv("ws_port", ws_->port())
      .kv("admin_port", admin_->port())
      .kv("ws_url", "ws://" + cfg_.listen_host + ":" + std::to_string(ws_->port()) + "/ws/chat")
      .kv("admin_url", "http://" + cfg_.admin_host + ":" + std::to_string(admin_->port()) + "/admin");
}

void Simulator::stop() {
  ws_->stop();
  admin_.reset();
}

void Simulator::register_admin_routes() {
  const std::string root_hex = wa::crypto::to_hex(identity_.root.pub);
  admin_->route("GET", "/admin/root-key", [root_hex](const AdminRequest& req) {
    if (!req.query.empty()) return AdminResponse::error(400, "root-key takes no parameters");
    return AdminResponse{200, "{\"root_public_key\":\"" + root_hex + "\"}"};
  });
  admin_->route("GET", "/admin/health", [this, ws_port = ws_->port()](const AdminRequest& req) {
    if (!req.query.empty()) return AdminResponse::error(400, "health takes no parameters");
    return AdminResponse{200, "{\"status\":\"ok\",\"ws_port\":" + std::to_string(ws_port) +
                                  ",\"counters\":" + log_.counters_json() + "}"};
  });
  // ?limit=N (1..1000): only the newest N records.
  admin_->route("GET", "/admin/connections", [this](const AdminRequest& req) {
    std::size_t limit = 0;
    for (const auto& [k, v] : req.query) {
      if (k != "limit") return AdminResponse::error(400, "unknown parameter: " + k);
      unsigned n = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || p != v.data() + v.size() || n < 1 || n > 1000)
        return AdminResponse::error(400, "limit must be an integer 1-1000");
      limit = n;
    }
    return AdminResponse{200, log_.connections_json(limit)};
  });
}

}  // namespace wa::sim
