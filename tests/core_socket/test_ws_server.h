// A tiny blocking WebSocket server for tests: one connection on 127.0.0.1:<ephemeral>, run by a
// script on its own thread. Uses the same pure pieces wasim uses (upgrade parser, frame parser).
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include <asio.hpp>

#include "core/socket/websocket_frame.h"
#include "core/socket/websocket_upgrade.h"

namespace wa::test {

using socket::Bytes;
using socket::WsFrameParser;
using socket::WsMessage;
using socket::WsOpcode;

// Stream is a connected tcp::socket or an ssl::stream after its handshake.
template <class Stream>
class TestWsConnT {
 public:
  explicit TestWsConnT(Stream& s) : s_(s), parser_(WsFrameParser::Peer::client) {}

  // Reads the upgrade request and answers 101 (or a corrupt accept key when `good` is false).
  socket::ParsedUpgradeRequest upgrade(bool good = true) {
    std::string head;
    asio::read_until(s_, asio::dynamic_buffer(head), "\r\n\r\n");
    auto req = socket::parse_ws_upgrade_request(head);
    std::string key = req.headers.at("sec-websocket-key");
    std::string resp = socket::build_ws_upgrade_response(good ? key : key + "x");
    asio::write(s_, asio::buffer(resp));
    return req;
  }

  WsMessage read_message() {
    for (;;) {
      if (auto m = parser_.next()) return std::move(*m);
      std::uint8_t buf[4096];
      std::size_t n = s_.read_some(asio::buffer(buf));
      parser_.feed(socket::ByteView(buf, n));
    }
  }

  void send(WsOpcode op, socket::ByteView payload, bool fin = true) { send_raw(socket::encode_ws_frame(op, payload, fin)); }
  void send_raw(socket::ByteView bytes) { asio::write(s_, asio::buffer(bytes.data(), bytes.size())); }

 private:
  Stream& s_;
  WsFrameParser parser_;
};

using TestWsConn = TestWsConnT<asio::ip::tcp::socket>;

class TestWsServer {
 public:
  TestWsServer() : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}), sock_(io_) {}
  ~TestWsServer() { stop(); }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string url(const std::string& path = "/ws/chat") const {
    return "ws://127.0.0.1:" + std::to_string(port()) + path;
  }

  void serve(std::function<void(TestWsConn&)> script) {
    thread_ = std::thread([this, script = std::move(script)] {
      try {
        acceptor_.accept(sock_);
        accepted_ = true;
        TestWsConn c(sock_);
        script(c);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mu_);
        error_ = e.what();
      }
    });
  }

  // Unblocks the script (its reads fail) and waits for it.
  void stop() {
    if (!thread_.joinable()) return;
    std::error_code ec;
    if (accepted_) {
      sock_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    } else {
      // Closing the acceptor does not wake a blocked accept(); a throwaway connection does,
      // and the script then reads its EOF.
      asio::io_context poke_io;
      asio::ip::tcp::socket poke(poke_io);
      poke.connect(acceptor_.local_endpoint(), ec);
      poke.close(ec);
    }
    thread_.join();
    acceptor_.close(ec);
  }
  // Waits for the script to end by itself.
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  std::string error() {
    std::lock_guard<std::mutex> lock(mu_);
    return error_;
  }

 private:
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  asio::ip::tcp::socket sock_;
  std::thread thread_;
  std::atomic<bool> accepted_{false};
  std::mutex mu_;
  std::string error_;
};

}  // namespace wa::test
