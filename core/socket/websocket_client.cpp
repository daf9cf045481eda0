#include "core/socket/websocket_client.h"

#include <sys/socket.h>

#include <system_error>

#include "common/log.h"
#include "core/socket/websocket_upgrade.h"

namespace wa::socket {

namespace {
constexpr std::size_t kReadChunk = 64 * 1024;
}

std::shared_ptr<WebSocketClient> WebSocketClient::create(asio::io_context& io, WebSocketClientOptions options) {
  return create(asio::make_strand(io), std::move(options));
}

std::shared_ptr<WebSocketClient> WebSocketClient::create(Strand strand, WebSocketClientOptions options) {
  return std::make_shared<WebSocketClient>(Tag{}, std::move(strand), std::move(options));
}

WebSocketClient::WebSocketClient(Tag, Strand strand, WebSocketClientOptions options)
    : strand_(std::move(strand)), options_(std::move(options)), resolver_(strand_), timer_(strand_) {}

WebSocketClient::~WebSocketClient() = default;

void WebSocketClient::set_message_handler(MessageHandler h) {
  asio::dispatch(strand_, [self = shared_from_this(), h = std::move(h)]() mutable { self->on_message_ = std::move(h); });
}

void WebSocketClient::set_close_handler(CloseHandler h) {
  asio::dispatch(strand_, [self = shared_from_this(), h = std::move(h)]() mutable { self->on_close_ = std::move(h); });
}

template <class F>
void WebSocketClient::with_stream(F&& f) {
  if (tls_) {
    f(*tls_);
  } else if (plain_) {
    f(*plain_);
  }
}

void WebSocketClient::connect(const std::string& url, ConnectHandler done) {
  asio::dispatch(strand_, [self = shared_from_this(), url, done = std::move(done)]() mutable {
    if (self->state_ != State::idle) {
      asio::post(self->strand_.get_inner_executor(), [done = std::move(done)] {
        done(std::make_exception_ptr(std::logic_error("websocket: connect called twice")));
      });
      return;
    }
    self->connect_done_ = std::move(done);
    self->state_ = State::connecting;
    try {
      self->url_ = parse_ws_url(url);
    } catch (...) {
      self->fail_connect(std::current_exception());
      return;
    }
    self->timer_.expires_after(self->options_.connect_timeout);
    self->timer_.async_wait([self](std::error_code ec) {
      if (!ec && self->state_ == State::connecting) self->fail_connect("timeout", asio::error::timed_out);
    });
    self->resolver_.async_resolve(self->url_.host, self->url_.port,
                                  [self](std::error_code ec, asio::ip::tcp::resolver::results_type results) {
                                    self->on_resolved(ec, std::move(results));
                                  });
  });
}

void WebSocketClient::fail_connect(const std::string& stage, std::error_code ec) {
  std::string host = url_.host;
  fail_connect(std::make_exception_ptr(std::system_error(ec, "websocket connect to " + host + " failed at " + stage)));
}

void WebSocketClient::fail_connect(std::exception_ptr e) {
  if (state_ != State::connecting) return;
  state_ = State::closed;
  finished_ = true;
  timer_.cancel();
  resolver_.cancel();
  drop_socket();
  on_message_ = nullptr;
  on_close_ = nullptr;
  auto done = std::move(connect_done_);
  connect_done_ = nullptr;
  if (done) asio::post(strand_.get_inner_executor(), [done = std::move(done), e] { done(e); });
}

void WebSocketClient::on_resolved(std::error_code ec, asio::ip::tcp::resolver::results_type results) {
  if (state_ != State::connecting) return;
  if (ec) return fail_connect("resolve", ec);
  if (url_.tls) {
    ssl_ctx_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    ssl_ctx_->set_default_verify_paths();
    if (!options_.extra_ca_file.empty()) {
      std::error_code load_ec;
      ssl_ctx_->load_verify_file(options_.extra_ca_file, load_ec);
      if (load_ec) return fail_connect("loading CA file " + options_.extra_ca_file, load_ec);
    }
    tls_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket>>(strand_, *ssl_ctx_);
  } else {
    plain_ = std::make_unique<asio::ip::tcp::socket>(strand_);
  }
  auto& lowest = tls_ ? tls_->lowest_layer() : *plain_;
  asio::async_connect(lowest, results,
                      [self = shared_from_this()](std::error_code ec, const asio::ip::tcp::endpoint&) {
                        self->on_connected(ec);
                      });
}

void WebSocketClient::on_connected(std::error_code ec) {
  if (state_ != State::connecting) return;
  if (ec) return fail_connect("TCP connect", ec);
  std::error_code ignore;
  auto& lowest = tls_ ? tls_->lowest_layer() : *plain_;
  lowest.set_option(asio::ip::tcp::no_delay(true), ignore);
  {
    std::lock_guard lk(queue_mu_);
    shut_fd_ = lowest.native_handle();
  }
  if (!tls_) return send_upgrade();

  // SNI only for names: RFC 6066 forbids IP literals there.
  std::error_code addr_ec;
  asio::ip::make_address(url_.host, addr_ec);
  if (addr_ec && SSL_set_tlsext_host_name(tls_->native_handle(), url_.host.c_str()) != 1) {
    return fail_connect("setting SNI", asio::error::invalid_argument);
  }
  tls_->set_verify_mode(asio::ssl::verify_peer);
  tls_->set_verify_callback(asio::ssl::host_name_verification(url_.host));
  tls_->async_handshake(asio::ssl::stream_base::client, [self = shared_from_this()](std::error_code ec) {
    if (self->state_ != State::connecting) return;
    if (ec) return self->fail_connect("TLS handshake", ec);
    self->send_upgrade();
  });
}

void WebSocketClient::send_upgrade() {
  client_key_ = make_ws_client_key();
  WsUpgradeRequest req;
  req.host = url_.host_header();
  req.path = url_.path;
  req.key = client_key_;
  req.origin = options_.origin;
  req.user_agent = options_.user_agent;
  auto text = std::make_shared<std::string>(build_ws_upgrade_request(req));
  auto write = [&] {
    with_stream([&](auto& s) {
      asio::async_write(s, asio::buffer(*text), [self = shared_from_this(), text](std::error_code ec, std::size_t) {
        if (self->state_ != State::connecting) return;
        if (ec) return self->fail_connect("sending the upgrade request", ec);
        self->read_upgrade();
      });
    });
  };
  if (options_.send_gate && !options_.send_gate(write)) {
    return fail_connect("upgrade request (refused by the send gate)", asio::error::operation_aborted);
  }
  if (!options_.send_gate) write();
}

void WebSocketClient::read_upgrade() {
  with_stream([&](auto& s) {
    asio::async_read_until(
        s, asio::dynamic_buffer(head_buf_, kMaxUpgradeHeadSize), "\r\n\r\n",
        [self = shared_from_this()](std::error_code ec, std::size_t n) {
          if (self->state_ != State::connecting) return;
          if (ec == asio::error::not_found) {
            return self->fail_connect(std::make_exception_ptr(UpgradeError("response head too large")));
          }
          if (ec) return self->fail_connect("reading the upgrade response", ec);
          try {
            check_ws_upgrade_response(std::string_view(self->head_buf_).substr(0, n), self->client_key_);
          } catch (...) {
            if (self->options_.on_decode_error) self->options_.on_decode_error("websocket");
            return self->fail_connect(std::current_exception());
          }
          WsParserLimits limits;
          limits.max_message_size = self->options_.max_message_size;
          limits.max_buffered = self->options_.max_message_size + 64 * 1024;
          self->parser_ = std::make_unique<WsFrameParser>(WsFrameParser::Peer::server, limits);
          // Bytes after the head already belong to the WebSocket stream.
          Bytes leftover(self->head_buf_.begin() + static_cast<std::ptrdiff_t>(n), self->head_buf_.end());
          self->head_buf_.clear();
          self->head_buf_.shrink_to_fit();
          self->state_ = State::open;
          self->timer_.cancel();
          auto done = std::move(self->connect_done_);
          self->connect_done_ = nullptr;
          if (done) done(nullptr);
          self->read_buf_.assign(leftover.begin(), leftover.end());
          self->start_reading();
        });
  });
}

void WebSocketClient::start_reading() {
  // read_buf_ may hold bytes that arrived with the upgrade response; parse those first.
  if (!read_buf_.empty()) {
    Bytes pending = std::move(read_buf_);
    read_buf_.clear();
    try {
      parser_->feed(pending);
    } catch (const WebSocketError& e) {
      if (options_.on_decode_error) options_.on_decode_error("websocket");
      wa::log::warn("ws_protocol_error").kv("host", url_.host).kv("error", e.what());
      close_info_ = WsCloseInfo{e.close_code(), e.what(), false, true};
      return do_close(e.close_code(), e.what());
    }
    while (auto m = parser_->next()) {
      handle_message(std::move(*m));
      if (finished_) return;
    }
  }
  if (plain_) return read_plain();
  read_buf_.resize(kReadChunk);
  with_stream([&](auto& s) {
    s.async_read_some(asio::buffer(read_buf_), [self = shared_from_this()](std::error_code ec, std::size_t n) {
      if (self->finished_) return;
      if (ec) {
        if (self->close_sent_) return self->finish(self->close_info_);
        return self->finish(WsCloseInfo{1006, "connection lost: " + ec.message(), true, true});
      }
      self->read_buf_.resize(n);
      self->start_reading();
    });
  });
}

// ws://: wait until the socket is readable, then read into the pool thread's buffer, so an idle
// connection holds no read buffer of its own (thousands of idle accounts per pod).
void WebSocketClient::read_plain() {
  plain_->async_wait(asio::socket_base::wait_read, [self = shared_from_this()](std::error_code ec) {
    if (self->finished_ || !self->plain_) return;
    if (ec) {
      if (self->close_sent_) return self->finish(self->close_info_);
      return self->finish(WsCloseInfo{1006, "connection lost: " + ec.message(), true, true});
    }
    // On the heap, made on a thread's first read: a thread_local array would sit in every
    // thread's static TLS, i.e. on every thread's stack (civetweb's workers have small ones).
    thread_local std::unique_ptr<std::array<std::uint8_t, kReadChunk>> tl_buf;
    if (!tl_buf) tl_buf = std::make_unique<std::array<std::uint8_t, kReadChunk>>();
    auto& buf = *tl_buf;
    std::error_code rec;
    self->plain_->non_blocking(true, rec);
    const std::size_t n = rec ? 0 : self->plain_->read_some(asio::buffer(buf), rec);
    if (rec == asio::error::would_block || rec == asio::error::try_again) return self->read_plain();
    if (rec) {
      if (self->close_sent_) return self->finish(self->close_info_);
      return self->finish(WsCloseInfo{1006, "connection lost: " + rec.message(), true, true});
    }
    self->read_buf_.assign(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    self->start_reading();
  });
}

void WebSocketClient::handle_message(WsMessage m) {
  switch (m.opcode) {
    case WsOpcode::ping:
      if (!close_sent_) queue_frame(encode_ws_frame_masked(WsOpcode::pong, m.payload));
      return;
    case WsOpcode::pong:
      return;
    case WsOpcode::close: {
      WsCloseInfo info;
      info.code = 1005;  // no status code present
      if (m.payload.size() >= 2) {
        info.code = static_cast<std::uint16_t>(m.payload[0] << 8 | m.payload[1]);
        info.reason.assign(m.payload.begin() + 2, m.payload.end());
      }
      if (close_sent_) return finish(close_info_);  // the answer to our close
      info.by_peer = true;
      close_sent_ = true;
      state_ = State::closing;
      queue_frame(encode_ws_frame_masked(WsOpcode::close, m.payload.size() >= 2 ? ws_close_payload(info.code, "") : Bytes{}));
      close_info_ = info;
      pending_finish_ = info;
      return;
    }
    case WsOpcode::text:
    case WsOpcode::binary:
      if (state_ == State::open && on_message_) on_message_(m.opcode, std::move(m.payload));
      return;
    case WsOpcode::continuation:
      return;  // never produced by the parser
  }
}

void WebSocketClient::queue_frame(Bytes frame) {
  if (finished_) return;
  {
    std::lock_guard lk(queue_mu_);
    if (aborted_) return;
    write_queue_.push_back(std::move(frame));
  }
  write_next();
}

void WebSocketClient::write_next() {
  if (writing_ || finished_) return;
  {
    std::lock_guard lk(queue_mu_);
    if (write_queue_.empty()) {
      in_flight_.clear();
    } else {
      in_flight_ = std::move(write_queue_.front());
      write_queue_.pop_front();
    }
  }
  if (in_flight_.empty()) {
    if (pending_finish_) finish(*pending_finish_);
    return;
  }
  auto write = [&] {
    writing_ = true;
    with_stream([&](auto& s) {
      asio::async_write(s, asio::buffer(in_flight_), [self = shared_from_this()](std::error_code ec, std::size_t) {
        self->writing_ = false;
        if (self->finished_) return;
        if (ec) return self->finish(WsCloseInfo{1006, "write failed: " + ec.message(), true, true});
        self->write_next();
      });
    });
  };
  if (!options_.send_gate) return write();
  if (options_.send_gate(write)) return;
  // Refused: nothing queued may follow. Finish from a fresh handler, not inside the caller's
  // send (the owner's close handler would run re-entrantly).
  {
    std::lock_guard lk(queue_mu_);
    aborted_ = true;
    write_queue_.clear();
  }
  in_flight_.clear();
  asio::post(strand_, [self = shared_from_this()] { self->finish(WsCloseInfo{1006, "send refused by the gate", false, true}); });
}

void WebSocketClient::send_binary(Bytes payload) {
  asio::dispatch(strand_, [self = shared_from_this(), payload = std::move(payload)] {
    if (self->state_ != State::open) return;
    self->queue_frame(encode_ws_frame_masked(WsOpcode::binary, payload));
  });
}

void WebSocketClient::send_text(std::string text) {
  asio::dispatch(strand_, [self = shared_from_this(), text = std::move(text)] {
    if (self->state_ != State::open) return;
    self->queue_frame(encode_ws_frame_masked(WsOpcode::text, crypto::view(text)));
  });
}

void WebSocketClient::send_ping(Bytes payload) {
  if (payload.size() > 125) throw std::invalid_argument("websocket: ping payload over 125 bytes");
  asio::dispatch(strand_, [self = shared_from_this(), payload = std::move(payload)] {
    if (self->state_ != State::open) return;
    self->queue_frame(encode_ws_frame_masked(WsOpcode::ping, payload));
  });
}

void WebSocketClient::close(std::uint16_t code, std::string reason) {
  asio::dispatch(strand_, [self = shared_from_this(), code, reason = std::move(reason)] {
    if (self->state_ == State::connecting) {
      return self->fail_connect("close requested", asio::error::operation_aborted);
    }
    if (self->state_ != State::open) return;
    self->close_info_ = WsCloseInfo{code, reason, false, false};
    self->do_close(code, reason);
  });
}

void WebSocketClient::do_close(std::uint16_t code, std::string reason) {
  if (finished_ || close_sent_) return;
  close_sent_ = true;
  state_ = State::closing;
  queue_frame(encode_ws_frame_masked(WsOpcode::close, ws_close_payload(code, reason)));
  timer_.expires_after(options_.close_timeout);
  timer_.async_wait([self = shared_from_this()](std::error_code ec) {
    if (!ec && !self->finished_) self->finish(self->close_info_);
  });
}

void WebSocketClient::abort() {
  {
    std::lock_guard lk(queue_mu_);
    aborted_ = true;
    write_queue_.clear();
  }
  asio::dispatch(strand_, [self = shared_from_this()] {
    if (self->state_ == State::connecting) {
      return self->fail_connect("aborted", asio::error::operation_aborted);
    }
    self->finish(WsCloseInfo{1006, "aborted locally", false, false});
  });
  // The peer sees the connection end now, not when the strand gets to the close: on a busy pool
  // that took a second, and a handover's next leader logged in while this connection was still
  // open (two live logins). After the post above, so the handler runs before any read error this
  // causes. drop_socket() forgets the descriptor under the same mutex before closing it, so this
  // never reaches a reused one.
  std::lock_guard lk(queue_mu_);
  if (shut_fd_ >= 0) ::shutdown(shut_fd_, SHUT_RDWR);
}

void WebSocketClient::finish(WsCloseInfo info) {
  if (finished_) return;
  finished_ = true;
  state_ = State::closed;
  timer_.cancel();
  drop_socket();
  {
    std::lock_guard lk(queue_mu_);
    write_queue_.clear();
  }
  auto handler = std::move(on_close_);
  on_close_ = nullptr;
  on_message_ = nullptr;  // drop captured references, breaking cycles
  if (handler) handler(info);
}

void WebSocketClient::drop_socket() {
  {
    std::lock_guard lk(queue_mu_);
    shut_fd_ = -1;
  }
  std::error_code ignore;
  if (tls_) tls_->lowest_layer().close(ignore);
  if (plain_) plain_->close(ignore);
}

}  // namespace wa::socket
