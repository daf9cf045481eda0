#include "sim/ws_server.h"

#include <array>
#include <deque>

#include "common/log.h"
#include "sim/http_upgrade.h"
#include "core/socket/websocket_frame.h"

namespace wa::sim {
namespace {

using wa::socket::WsOpcode;

std::string ws_frame(WsOpcode op, std::string_view payload) {
  auto b = wa::socket::encode_ws_frame(op, wa::crypto::view(payload));
  return std::string(b.begin(), b.end());
}

}  // namespace

class WsServer::Connection : public WsLink, public std::enable_shared_from_this<WsServer::Connection> {
 public:
  Connection(WsServer& server, asio::ip::tcp::socket sock, std::uint64_t id, std::string peer)
      : server_(server), sock_(std::move(sock)), timer_(sock_.get_executor()), deadline_(sock_.get_executor()),
        id_(id), peer_(std::move(peer)),
        ws_(wa::socket::WsFrameParser::Peer::client,
            wa::socket::WsParserLimits{server.options_.max_message_bytes, server.options_.max_message_bytes + 64}) {}

  std::uint64_t id() const override { return id_; }

  void start() {
    arm_timer(server_.options_.upgrade_timeout, "upgrade timeout");
    read();
  }

  void send_binary(std::string bytes) override {
    if (closing_ || closed_) return;
    queue_.push_back(ws_frame(WsOpcode::binary, bytes));
    flush();
  }

  void close(std::uint16_t ws_code, const std::string& reason, const std::string& kind) override {
    if (closing_ || closed_) return;
    closing_ = true;
    reason_ = reason;
    // Recorded now: the close is decided here, however long the peer takes to hang up.
    server_.log_.close(id_, reason_);
    if (!kind.empty()) {
      server_.log_.count_error(kind);
      wa::log::warn("wasim_malformed_input").kv("conn", id_).kv("kind", kind).kv("reason", reason);
    }
    if (upgraded_) {
      auto payload = wa::socket::ws_close_payload(ws_code, {});
      queue_.push_back(ws_frame(WsOpcode::close, wa::crypto::to_string(payload)));
    }
    // Don't wait forever for a peer that stops reading.
    arm_timer(std::chrono::seconds(2), reason);
    flush();
  }

  void set_deadline(std::chrono::milliseconds after, const std::string& reason) override {
    deadline_.cancel();
    if (after.count() <= 0 || closing_ || closed_) return;
    deadline_.expires_after(after);
    deadline_.async_wait([self = shared_from_this(), reason](const asio::error_code& ec) {
      if (!ec) self->close(1008, reason, "timeout");
    });
  }

  // Server shutdown: close cleanly if upgraded, else just drop.
  void shutdown() {
    if (upgraded_) close(1001, "server shutdown", {});
    else terminate("server shutdown");
  }

 private:
  void arm_timer(std::chrono::milliseconds d, std::string why) {
    timer_.expires_after(d);
    timer_.async_wait([self = shared_from_this(), why = std::move(why)](const asio::error_code& ec) {
      if (!ec) self->terminate(why);
    });
  }

  // Waits for readability, then reads into one buffer shared by every connection (one io thread):
  // an idle device connection holds no read buffer (wasim serves thousands). Per thread: tests run
  // several servers in one process.
  void read() {
    sock_.async_wait(asio::socket_base::wait_read, [self = shared_from_this()](const asio::error_code& ec) {
      if (self->closed_) return;
      if (ec) return self->terminate("read error: " + ec.message());
      // Heap, made on first use: a thread_local array would take static TLS on every thread's stack.
      thread_local std::unique_ptr<std::array<char, 65536>> tl_buf;
      if (!tl_buf) tl_buf = std::make_unique<std::array<char, 65536>>();
      auto& buf = *tl_buf;
      asio::error_code rec;
      self->sock_.non_blocking(true, rec);
      const std::size_t n = rec ? 0 : self->sock_.read_some(asio::buffer(buf), rec);
      if (rec == asio::error::would_block || rec == asio::error::try_again) return self->read();
      if (rec) return self->terminate(rec == asio::error::eof ? "peer closed" : "read error: " + rec.message());
      self->on_bytes(std::string_view(buf.data(), n));
      if (!self->closed_) self->read();
    });
  }

  void on_bytes(std::string_view bytes) {
    if (closing_) return;  // draining until the peer or the timer ends it
    if (!upgraded_) {
      try {
        auto req = upgrade_.feed(bytes, server_.options_.path);
        if (!req) return;
        upgraded_ = true;
        raw_write(upgrade_response(*req));
        arm_timer(server_.options_.idle_timeout, "idle timeout");
        session_ = server_.factory_(*this);
        auto rest = upgrade_.leftover();
        if (!rest.empty()) on_ws_bytes(rest);
      } catch (const UpgradeError& e) {
        server_.log_.count_error("http");
        wa::log::warn("wasim_upgrade_rejected").kv("conn", id_).kv("status", e.status()).kv("reason", e.what());
        raw_write(http_error_response(e.status(), e.what()));
        closing_ = true;
        reason_ = std::string("upgrade rejected: ") + e.what();
        arm_timer(std::chrono::seconds(2), reason_);
      }
      return;
    }
    on_ws_bytes(bytes);
  }

  void on_ws_bytes(std::string_view bytes) {
    arm_timer(server_.options_.idle_timeout, "idle timeout");
    try {
      ws_.feed(wa::crypto::view(bytes));
      while (!closing_) {
        auto msg = ws_.next();
        if (!msg) break;
        on_ws_message(msg->opcode, std::string_view(reinterpret_cast<const char*>(msg->payload.data()),
                                                    msg->payload.size()));
      }
    } catch (const wa::socket::WebSocketError& e) {
      close(e.close_code(), e.what(), "websocket");
    }
  }

  void on_ws_message(WsOpcode op, std::string_view payload) {
    if (closing_) return;
    switch (op) {
      case WsOpcode::binary:
        if (!session_) break;
        // A session bug must cost one connection, never the io thread (and with it wasim).
        try {
          session_->on_binary(payload);
        } catch (const std::exception& e) {
          wa::log::error("wasim_session_failed").kv("conn", id_).kv("error", e.what());
          close(1011, std::string("internal error: ") + e.what(), "internal");
        }
        break;
      case WsOpcode::text:
        break;  // only binary messages carry frames; ignored like WM does
      case WsOpcode::ping:
        queue_.push_back(ws_frame(WsOpcode::pong, payload));
        flush();
        break;
      case WsOpcode::pong:
      case WsOpcode::continuation:
        break;
      case WsOpcode::close: {
        std::uint16_t code = payload.size() >= 2 ? static_cast<std::uint16_t>(
                                                       (static_cast<unsigned char>(payload[0]) << 8) |
                                                       static_cast<unsigned char>(payload[1]))
                                                 : 1005;
        close(code == 1005 ? 1000 : code, "client closed (" + std::to_string(code) + ")", {});
        break;
      }
    }
  }

  void raw_write(std::string bytes) {
    queue_.push_back(std::move(bytes));
    flush();
  }

  void flush() {
    if (writing_ || closed_) return;
    if (queue_.empty()) {
      if (closing_) {
        asio::error_code ignored;
        sock_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
      }
      return;
    }
    writing_ = true;
    asio::async_write(sock_, asio::buffer(queue_.front()),
                      [self = shared_from_this()](const asio::error_code& ec, std::size_t) {
                        self->writing_ = false;
                        if (ec) {
                          self->terminate("write error: " + ec.message());
                          return;
                        }
                        self->queue_.pop_front();
                        self->flush();
                      });
  }

  // Final: the socket is closed and the session told. Idempotent.
  void terminate(const std::string& why) {
    if (closed_) return;
    closed_ = true;
    if (reason_.empty()) reason_ = why;
    asio::error_code ignored;
    timer_.cancel();
    deadline_.cancel();
    sock_.close(ignored);
    server_.log_.close(id_, reason_);
    wa::log::info("wasim_connection_closed").kv("conn", id_).kv("reason", reason_);
    if (session_) session_->on_closed();
    session_.reset();
    server_.connections_.erase(id_);
  }

  WsServer& server_;
  asio::ip::tcp::socket sock_;
  asio::steady_timer timer_;     // upgrade/idle/close-drain limit, re-armed as the connection progresses
  asio::steady_timer deadline_;  // the session's own stage limit (set_deadline)
  std::uint64_t id_;
  std::string peer_;
  UpgradeParser upgrade_;
  wa::socket::WsFrameParser ws_;
  std::unique_ptr<WsSession> session_;
  std::deque<std::string> queue_;
  std::string reason_;
  bool upgraded_ = false;
  bool writing_ = false;
  bool closing_ = false;
  bool closed_ = false;
};

WsServer::WsServer(asio::io_context& io, const std::string& host, int port, WsServerOptions options,
                   SessionFactory factory, ConnectionLog& log)
    : io_(io), acceptor_(io), retry_timer_(io), options_(std::move(options)), factory_(std::move(factory)), log_(log) {
  asio::ip::tcp::endpoint ep(asio::ip::make_address(host), static_cast<unsigned short>(port));
  acceptor_.open(ep.protocol());
  acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true));
  acceptor_.bind(ep);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  port_ = acceptor_.local_endpoint().port();
  accept();
}

WsServer::~WsServer() { stop(); }

void WsServer::accept() {
  acceptor_.async_accept([this](const asio::error_code& ec, asio::ip::tcp::socket sock) {
    if (stopped_) return;
    if (!ec) {
      asio::error_code pe;
      auto remote = sock.remote_endpoint(pe);
      std::string peer = pe ? "unknown" : remote.address().to_string() + ":" + std::to_string(remote.port());
      if (connections_.size() >= options_.max_connections) {
        wa::log::warn("wasim_connection_refused").kv("reason", "too many connections");
        asio::error_code ignored;
        sock.close(ignored);
      } else {
        asio::error_code ignored;
        sock.set_option(asio::ip::tcp::no_delay(true), ignored);
        auto id = log_.open(peer);
        wa::log::info("wasim_connection_opened").kv("conn", id);
        auto c = std::make_shared<Connection>(*this, std::move(sock), id, peer);
        connections_[id] = c;
        c->start();
      }
    } else if (ec != asio::error::operation_aborted) {
      wa::log::warn("wasim_accept_failed").kv("error", ec.message());
      // Out of file descriptors (or another lasting error): accepting again at once would spin
      // the io thread that every connection shares; retry shortly.
      retry_timer_.expires_after(std::chrono::milliseconds(100));
      retry_timer_.async_wait([this](const asio::error_code& tec) {
        if (!tec && !stopped_) accept();
      });
      return;
    }
    accept();
  });
}

void WsServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  asio::error_code ignored;
  acceptor_.close(ignored);
  retry_timer_.cancel();
  // Copy: shutdown() may erase from the map.
  std::vector<std::shared_ptr<Connection>> live;
  for (auto& [_, w] : connections_)
    if (auto c = w.lock()) live.push_back(c);
  for (auto& c : live) c->shutdown();
}

}  // namespace wa::sim
