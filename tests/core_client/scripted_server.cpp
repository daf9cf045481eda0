#include "tests/core_client/scripted_server.h"

#include "core/binary/decoder.h"
#include "core/binary/encoder.h"
#include "core/socket/frame_codec.h"
#include "core/socket/noise_handshake.h"

namespace wa::clienttest {

class ScriptedServer::Session : public sim::WsSession {
 public:
  Session(ScriptedServer& s, sim::WsLink& link) : s_(s), link_(link) { s_.sessions_[link_.id()] = this; }
  ~Session() override { s_.sessions_.erase(link_.id()); }

  void on_binary(std::string_view message) override {
    s_.bytes_received_ += message.size();
    if (done_) return;
    try {
      reader_.feed(crypto::view(message));
      while (auto frame = reader_.next_frame()) on_frame(*frame);
    } catch (const std::exception& e) {
      done_ = true;
      link_.close(1002, std::string("scripted server: ") + e.what());
    }
  }
  void on_closed() override { done_ = true; }

  void send(const binary::Node& n) {
    if (done_ || !transport_) return;
    auto out = socket::encode_frame(transport_->encrypt(binary::encode(n, binary::Dict::v3)));
    link_.send_binary(std::string(out.begin(), out.end()));
  }
  void send_raw(const crypto::Bytes& b) {
    if (!done_) link_.send_binary(std::string(b.begin(), b.end()));
  }
  void close() {
    done_ = true;
    link_.close(1000, "scripted close");
  }

 private:
  void on_frame(const crypto::Bytes& frame) {
    if (!hs_) {
      hs_.emplace(socket::ServerHandshakeConfig{s_.identity_.noise_static, crypto::to_bytes(s_.identity_.cert_chain)},
                  reader_.header()->prologue());
      auto hello = hs_->process_client_hello(frame);
      auto out = socket::encode_frame(hello);
      {
        std::lock_guard lk(s_.mu_);
        ++s_.client_hellos_;
        s_.cv_.notify_all();
      }
      if (s_.hold_hello_) s_.held_.emplace_back(link_.id(), out);
      else link_.send_binary(std::string(out.begin(), out.end()));
      return;
    }
    if (!transport_) {
      auto fin = hs_->process_client_finish(frame);
      transport_.emplace(hs_->transport());
      wa::proto::ClientPayload p;
      if (!p.ParseFromArray(fin.client_payload.data(), static_cast<int>(fin.client_payload.size()))) throw std::runtime_error("bad payload");
      s_.record_payload(link_.id(), p.has_username());
      if (s_.on_payload_) s_.on_payload_(s_, link_.id(), p);
      return;
    }
    auto node = binary::decode_frame(transport_->decrypt(frame), binary::Dict::v3);
    s_.record(link_.id(), node);
    if (s_.on_node_) s_.on_node_(s_, link_.id(), node);
  }

  ScriptedServer& s_;
  sim::WsLink& link_;
  socket::FrameReader reader_{true};
  std::optional<socket::ServerHandshake> hs_;
  std::optional<socket::NoiseTransport> transport_;
  bool done_ = false;
};

ScriptedServer::ScriptedServer(PayloadHandler on_payload, NodeHandler on_node)
    : identity_(sim::ServerIdentity::create(dir_.path())), on_payload_(std::move(on_payload)), on_node_(std::move(on_node)) {
  ws_ = std::make_unique<sim::WsServer>(io_, "127.0.0.1", 0, sim::WsServerOptions{}, [this](sim::WsLink& link) {
    return std::unique_ptr<sim::WsSession>(std::make_unique<Session>(*this, link));
  }, log_);
  port_ = ws_->port();
  thread_ = std::thread([this] { io_.run(); });
}

ScriptedServer::~ScriptedServer() {
  asio::post(io_, [this] { ws_->stop(); });
  // stop() closes every connection; give the close frames a moment, then end the loop.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (log_.open_count() > 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  io_.stop();
  thread_.join();
  ws_.reset();
}

void ScriptedServer::send(std::uint64_t conn, const binary::Node& node) {
  auto fn = [this, conn, node] {
    auto it = sessions_.find(conn);
    if (it != sessions_.end()) it->second->send(node);
  };
  if (thread_.get_id() == std::this_thread::get_id()) fn();
  else asio::post(io_, fn);
}

void ScriptedServer::close(std::uint64_t conn) {
  auto fn = [this, conn] {
    auto it = sessions_.find(conn);
    if (it != sessions_.end()) it->second->close();
  };
  if (thread_.get_id() == std::this_thread::get_id()) fn();
  else asio::post(io_, fn);
}

void ScriptedServer::release_server_hellos() {
  asio::post(io_, [this] {
    hold_hello_ = false;
    for (auto& [id, bytes] : held_) {
      auto it = sessions_.find(id);
      if (it != sessions_.end()) it->second->send_raw(bytes);
    }
    held_.clear();
  });
}

int ScriptedServer::client_hellos() {
  std::lock_guard lk(mu_);
  return client_hellos_;
}

void ScriptedServer::record(std::uint64_t conn, binary::Node n) {
  std::lock_guard lk(mu_);
  received_.push_back({conn, std::move(n)});
  cv_.notify_all();
}

void ScriptedServer::record_payload(std::uint64_t conn, bool login) {
  std::lock_guard lk(mu_);
  logins_.emplace_back(conn, login);
  cv_.notify_all();
}

bool ScriptedServer::wait(const std::function<bool(const std::vector<Received>&)>& pred, std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  return cv_.wait_for(lk, timeout, [&] { return pred(received_); });
}

std::vector<ScriptedServer::Received> ScriptedServer::received() {
  std::lock_guard lk(mu_);
  return received_;
}

std::vector<std::pair<std::uint64_t, bool>> ScriptedServer::logins() {
  std::lock_guard lk(mu_);
  return logins_;
}

}  // namespace wa::clienttest
