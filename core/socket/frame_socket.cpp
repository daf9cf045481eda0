#include "core/socket/frame_socket.h"

#include "common/log.h"
#include "core/crypto/crypto_error.h"

namespace wa::socket {

std::shared_ptr<FrameSocket> FrameSocket::create(asio::io_context& io, WebSocketClientOptions options,
                                                 std::uint8_t dict_version) {
  return create(asio::make_strand(io), std::move(options), dict_version);
}

std::shared_ptr<FrameSocket> FrameSocket::create(Strand strand, WebSocketClientOptions options,
                                                 std::uint8_t dict_version) {
  return std::make_shared<FrameSocket>(Tag{}, std::move(strand), std::move(options), dict_version);
}

FrameSocket::FrameSocket(Tag, Strand strand, WebSocketClientOptions options, std::uint8_t dict_version)
    : ws_(WebSocketClient::create(std::move(strand), std::move(options))), dict_version_(dict_version) {}

void FrameSocket::connect(const std::string& url, WebSocketClient::ConnectHandler done) {
  // Weak references: the socket owns the client, so the client must not own the socket.
  std::weak_ptr<FrameSocket> weak = shared_from_this();
  ws_->set_message_handler([weak](WsOpcode op, Bytes data) {
    if (auto self = weak.lock()) self->on_ws_message(op, std::move(data));
  });
  ws_->set_close_handler([weak](const WsCloseInfo& info) {
    if (auto self = weak.lock()) self->on_ws_close(info);
  });
  ws_->connect(url, std::move(done));
}

void FrameSocket::set_frame_handler(FrameHandler h) {
  asio::dispatch(executor(), [self = shared_from_this(), h = std::move(h)]() mutable {
    self->on_frame_ = std::move(h);
    self->deliver();
  });
}

void FrameSocket::set_close_handler(CloseHandler h) {
  asio::dispatch(executor(), [self = shared_from_this(), h = std::move(h)]() mutable {
    if (self->closed_) {
      auto info = *self->closed_;
      asio::post(self->executor(), [h = std::move(h), info] {
        if (h) h(info);
      });
      return;
    }
    self->on_close_ = std::move(h);
  });
}

void FrameSocket::send_frame(Bytes payload) {
  if (payload.size() + 16 > kMaxFrameSize) {
    throw FrameError("payload of " + std::to_string(payload.size()) + " bytes is too large to send");
  }
  asio::dispatch(executor(), [self = shared_from_this(), payload = std::move(payload)]() mutable {
    if (self->closed_) return;
    Bytes body;
    try {
      body = self->transport_ ? self->transport_->encrypt(payload) : std::move(payload);
    } catch (const std::exception& e) {
      // Only a worn-out counter gets here; the connection cannot continue.
      wa::log::error("wa_frame_encrypt_failed").kv("error", e.what());
      self->ws_->abort();
      return;
    }
    Bytes msg;
    if (!self->header_sent_) {
      msg = connection_header(self->dict_version_);
      self->header_sent_ = true;
    }
    append_frame(msg, body);
    self->ws_->send_binary(std::move(msg));
  });
}

void FrameSocket::install_transport(NoiseTransport transport) {
  asio::dispatch(executor(), [self = shared_from_this(), t = std::make_shared<NoiseTransport>(std::move(transport))] {
    self->transport_.emplace(std::move(*t));
  });
}

void FrameSocket::close() { ws_->close(); }
void FrameSocket::abort() { ws_->abort(); }

void FrameSocket::on_ws_message(WsOpcode op, Bytes data) {
  if (op != WsOpcode::binary) return;  // only binary messages carry frames
  try {
    reader_.feed(data);
  } catch (const FrameError& e) {
    if (ws_->options().on_decode_error) ws_->options().on_decode_error("frame");
    wa::log::warn("wa_frame_error").kv("error", e.what());
    ws_->close(ws_close::protocol_error, "bad frame");
    return;
  }
  while (auto f = reader_.next_frame()) pending_.push_back(std::move(*f));
  deliver();
}

void FrameSocket::deliver() {
  // Re-entrancy guard: a handler may call set_frame_handler (which dispatches inline here).
  if (delivering_) return;
  delivering_ = true;
  while (on_frame_ && !pending_.empty()) {
    Bytes frame = std::move(pending_.front());
    pending_.pop_front();
    if (transport_) {
      try {
        frame = transport_->decrypt(frame);
      } catch (const crypto::CryptoError&) {
        if (ws_->options().on_decode_error) ws_->options().on_decode_error("frame");
        wa::log::warn("wa_frame_decrypt_failed").kv("counter", static_cast<std::int64_t>(transport_->read_counter()));
        continue;
      }
    }
    // Copy: the handler may replace itself.
    FrameHandler h = on_frame_;
    h(std::move(frame));
  }
  delivering_ = false;
}

void FrameSocket::on_ws_close(const WsCloseInfo& info) {
  if (closed_) return;
  closed_ = info;
  auto h = std::move(on_close_);
  on_close_ = nullptr;
  on_frame_ = nullptr;
  if (h) h(info);
}

}  // namespace wa::socket
