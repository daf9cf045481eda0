// The client's frame socket: WebSocket + WA framing (header once, 3-byte lengths, reassembly)
// + Noise transport encryption once installed. Before the transport is installed frames go out
// and come in as plaintext (the handshake); afterwards send_frame() encrypts and received
// frames are decrypted. A frame that fails to decrypt is dropped with a warning and the read
// counter still advances, as WhatsApp's own clients do.
//
// All state lives on the WebSocket's strand (given, or a new one on `io`); public methods may be
// called from any thread.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <optional>

#include "core/socket/frame_codec.h"
#include "core/socket/noise_transport.h"
#include "core/socket/websocket_client.h"

namespace wa::socket {

class FrameSocket : public std::enable_shared_from_this<FrameSocket> {
 public:
  using FrameHandler = std::function<void(Bytes)>;
  using CloseHandler = std::function<void(const WsCloseInfo&)>;

  struct Tag {
    explicit Tag() = default;
  };
  static std::shared_ptr<FrameSocket> create(asio::io_context& io, WebSocketClientOptions options = {},
                                             std::uint8_t dict_version = kDictVersion);
  static std::shared_ptr<FrameSocket> create(Strand strand, WebSocketClientOptions options = {},
                                             std::uint8_t dict_version = kDictVersion);
  FrameSocket(Tag, Strand strand, WebSocketClientOptions options, std::uint8_t dict_version);

  void connect(const std::string& url, WebSocketClient::ConnectHandler done);

  // Frames received while no handler is set are kept and delivered, in order, once one is.
  // Passing nullptr pauses delivery.
  void set_frame_handler(FrameHandler h);
  // Called once when the connection ends; at once (posted) if it already has.
  void set_close_handler(CloseHandler h);

  // Sends one frame (the connection header goes in front of the first). Throws FrameError
  // at once if the payload cannot be framed.
  void send_frame(Bytes payload);
  // Frames sent and received after this call are encrypted.
  void install_transport(NoiseTransport transport);

  void close();
  void abort();

  Strand executor() const { return ws_->executor(); }
  std::uint8_t dict_version() const { return dict_version_; }

 private:
  void on_ws_message(WsOpcode op, Bytes data);
  void on_ws_close(const WsCloseInfo& info);
  void deliver();

  std::shared_ptr<WebSocketClient> ws_;
  std::uint8_t dict_version_;
  bool header_sent_ = false;
  FrameReader reader_;
  std::optional<NoiseTransport> transport_;
  FrameHandler on_frame_;
  CloseHandler on_close_;
  std::deque<Bytes> pending_;
  std::optional<WsCloseInfo> closed_;
  bool delivering_ = false;
};

}  // namespace wa::socket
