// RFC 6455 WebSocket client on standalone Asio: wss:// (OpenSSL, SNI, system CAs, host name
// check) and ws:// (wasim). Binary and text messages out, ping answered with pong, close
// handshake, masking, fragmented messages and size limits via WsFrameParser.
//
// Threading: every operation runs on an internal strand, so the public methods may be called
// from any thread; handlers are invoked on that strand.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <asio.hpp>
#include <asio/ssl.hpp>

#include "core/socket/websocket_frame.h"
#include "core/socket/ws_url.h"

namespace wa::socket {

// The executor a connection's handlers run on. Many connections share one io_context (run by a
// small thread pool); each keeps its own strand, and layers above may share it (the WhatsApp
// client runs its protocol on its socket's strand).
using Strand = asio::strand<asio::io_context::executor_type>;

struct WebSocketClientOptions {
  std::string origin = "https://web.whatsapp.com";
  std::string user_agent;  // empty: no User-Agent header (as whatsmeow by default)
  // One full WA frame (3-byte length + up to 2^24-1 bytes) plus the 4-byte header fits.
  std::size_t max_message_size = (16u << 20) + 64;
  // Whole opening: resolve + TCP + TLS + upgrade.
  std::chrono::milliseconds connect_timeout{20000};
  // How long close() waits for the server's close frame before dropping the connection.
  std::chrono::milliseconds close_timeout{3000};
  // Extra CA file to trust in addition to the system store (tests); empty = system only.
  std::string extra_ca_file;
  // Called with "websocket", "frame" or "handshake" whenever the peer's bytes are rejected, so
  // the owner can count it (Metrics::decode_error). Runs on the socket's strand.
  std::function<void(const char* kind)> on_decode_error;
  // Fencing: consulted on the strand right before bytes are handed to the kernel (every
  // WebSocket frame, queued or not, and the upgrade request). It calls `write` at most once,
  // synchronously, only if the bytes may go out, and returns whether it did; the owner holds its
  // own send lock around `write`, so once its stop() returned no write can start. A refusal
  // drops everything queued and ends the connection. Empty: no gate.
  std::function<bool(const std::function<void()>& write)> send_gate;
};

// Why the connection ended. Exactly one of these is delivered, once.
struct WsCloseInfo {
  std::uint16_t code = 0;  // close code from the peer's (or our) close frame; 1006 if none
  std::string reason;      // peer's close reason, or our error text
  bool by_peer = false;    // the server initiated the close or dropped the connection
  bool error = false;      // protocol error, I/O error or timeout rather than a clean close
};

class WebSocketClient : public std::enable_shared_from_this<WebSocketClient> {
 public:
  using ConnectHandler = std::function<void(std::exception_ptr)>;
  using MessageHandler = std::function<void(WsOpcode, Bytes)>;  // text or binary
  using CloseHandler = std::function<void(const WsCloseInfo&)>;

  static std::shared_ptr<WebSocketClient> create(asio::io_context& io, WebSocketClientOptions options = {});
  // On a given strand (shared with its owner).
  static std::shared_ptr<WebSocketClient> create(Strand strand, WebSocketClientOptions options = {});
  // Use create(); the tag keeps construction to shared_ptr (handlers hold shared_from_this()).
  struct Tag {
    explicit Tag() = default;
  };
  WebSocketClient(Tag, Strand strand, WebSocketClientOptions options);
  ~WebSocketClient();

  // Set before connect(). Messages that arrive before a handler is set are dropped.
  void set_message_handler(MessageHandler h);
  void set_close_handler(CloseHandler h);

  // Opens the connection. `done(nullptr)` on success; otherwise an exception_ptr holding
  // std::invalid_argument (bad URL), UpgradeError, WebSocketError or std::system_error (with
  // the stage that failed). The close handler is not called for a failed connect.
  void connect(const std::string& url, ConnectHandler done);

  void send_binary(Bytes payload);
  void send_text(std::string text);
  void send_ping(Bytes payload = {});
  // Graceful close: sends a close frame, waits up to close_timeout for the peer's, then drops.
  void close(std::uint16_t code = ws_close::normal, std::string reason = {});
  // Drops the TCP connection, sending nothing more (fencing): the write queue is emptied before
  // abort() returns; the socket itself is closed on the strand.
  void abort();

  bool is_open() const { return state_ == State::open; }
  const WebSocketClientOptions& options() const { return options_; }
  // The strand every handler runs on; layers above serialise their own state on it.
  Strand executor() const { return strand_; }

 private:
  enum class State { idle, connecting, open, closing, closed };

  template <class F>
  void with_stream(F&& f);
  void fail_connect(const std::string& stage, std::error_code ec);
  void fail_connect(std::exception_ptr e);
  void on_resolved(std::error_code ec, asio::ip::tcp::resolver::results_type results);
  void on_connected(std::error_code ec);
  void send_upgrade();
  void read_upgrade();
  void start_reading();
  void read_plain();
  void handle_message(WsMessage m);
  void queue_frame(Bytes frame);
  void write_next();
  void do_close(std::uint16_t code, std::string reason);
  void finish(WsCloseInfo info);
  void drop_socket();

  Strand strand_;
  WebSocketClientOptions options_;
  WsUrl url_;
  std::string client_key_;
  asio::ip::tcp::resolver resolver_;
  asio::steady_timer timer_;
  std::unique_ptr<asio::ssl::context> ssl_ctx_;
  std::unique_ptr<asio::ip::tcp::socket> plain_;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket>> tls_;
  std::atomic<State> state_{State::idle};  // atomic only so is_open() may be read from any thread
  ConnectHandler connect_done_;
  MessageHandler on_message_;
  CloseHandler on_close_;
  std::string head_buf_;
  std::unique_ptr<WsFrameParser> parser_;
  std::vector<std::uint8_t> read_buf_;
  // write_queue_, aborted_ and shut_fd_ are also touched by abort() from any thread: queue_mu_.
  std::mutex queue_mu_;
  std::deque<Bytes> write_queue_;
  bool aborted_ = false;
  int shut_fd_ = -1;  // the connected socket's descriptor until drop_socket() closes it
  Bytes in_flight_;  // the frame async_write is sending (strand only)
  bool writing_ = false;
  bool close_sent_ = false;
  bool finished_ = false;
  WsCloseInfo close_info_;                   // reported when a close we started completes
  std::optional<WsCloseInfo> pending_finish_;  // finish once the write queue drains
};

}  // namespace wa::socket
