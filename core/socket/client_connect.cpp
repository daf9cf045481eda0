#include "core/socket/client_connect.h"

#include "common/log.h"
#include "core/socket/cert_chain.h"
#include "core/socket/noise_handshake.h"

namespace wa::socket {

namespace {

// Shared by the callbacks of one connection attempt; `done` is called exactly once.
struct Attempt {
  std::shared_ptr<FrameSocket> socket;
  std::unique_ptr<ClientHandshake> handshake;
  std::unique_ptr<asio::steady_timer> timer;
  ClientConnectHandler done;
  std::string host;
  std::function<void(const char*)> on_decode_error;

  // Reports the failure once. The socket is aborted unless it already closed itself (`socket_done`).
  void fail(std::exception_ptr e, bool socket_done = false) {
    if (!done) return;
    auto d = std::move(done);
    done = nullptr;
    if (timer) timer->cancel();
    wa::log::warn("wa_connect_failed").kv("host", host).kv("error", wa::log::what(e));
    if (!socket_done) {
      socket->set_frame_handler(nullptr);
      socket->set_close_handler(nullptr);
      socket->abort();
    }
    d(e, nullptr);
  }
};

}  // namespace

std::shared_ptr<FrameSocket> connect_and_handshake(asio::io_context& io, ClientConnectOptions options,
                                                   ClientConnectHandler done) {
  return connect_and_handshake(asio::make_strand(io), std::move(options), std::move(done));
}

std::shared_ptr<FrameSocket> connect_and_handshake(Strand strand, ClientConnectOptions options,
                                                   ClientConnectHandler done) {
  auto a = std::make_shared<Attempt>();
  a->done = std::move(done);
  const auto inner = strand.get_inner_executor();
  a->socket = FrameSocket::create(std::move(strand), options.websocket, options.dict_version);
  a->handshake = std::make_unique<ClientHandshake>(
      ClientHandshakeConfig{options.noise_key, std::move(options.client_payload), options.trusted_root,
                            options.dict_version, std::nullopt});
  a->timer = std::make_unique<asio::steady_timer>(a->socket->executor());
  a->on_decode_error = options.websocket.on_decode_error;
  try {
    a->host = parse_ws_url(options.url).host;
  } catch (...) {
    auto d = std::move(a->done);
    asio::post(inner, [d = std::move(d), e = std::current_exception()] { d(e, nullptr); });
    return a->socket;
  }
  const auto timeout = options.handshake_timeout;

  a->socket->connect(options.url, [a, timeout](std::exception_ptr e) {
    if (e) return a->fail(e, true);  // the websocket already closed itself
    a->socket->set_close_handler([a](const WsCloseInfo& info) {
      a->fail(std::make_exception_ptr(HandshakeError("connection closed during the handshake (code " +
                                                     std::to_string(info.code) + ": " + info.reason + ")")));
    });
    a->socket->set_frame_handler([a](Bytes frame) {
      if (!a->done) return;
      try {
        Bytes finish = a->handshake->process_server_hello(frame);
        // Plaintext ClientFinish first, then everything else is encrypted. Both run inline on
        // the socket's strand, so the order is kept.
        a->socket->send_frame(std::move(finish));
        a->socket->install_transport(a->handshake->transport());
      } catch (...) {
        if (a->on_decode_error) a->on_decode_error("handshake");
        return a->fail(std::current_exception());
      }
      a->timer->cancel();
      a->socket->set_frame_handler(nullptr);
      a->socket->set_close_handler(nullptr);
      wa::log::info("wa_noise_handshake_done").kv("host", a->host);
      auto d = std::move(a->done);
      a->done = nullptr;
      d(nullptr, a->socket);
    });
    a->timer->expires_after(timeout);
    a->timer->async_wait([a, timeout](std::error_code ec) {
      if (ec) return;
      a->fail(std::make_exception_ptr(HandshakeError(
          "no ServerHello within " + std::to_string(timeout.count()) + " ms")));
    });
    try {
      a->socket->send_frame(a->handshake->client_hello());
    } catch (...) {
      a->fail(std::current_exception());
    }
  });
  return a->socket;
}

}  // namespace wa::socket
