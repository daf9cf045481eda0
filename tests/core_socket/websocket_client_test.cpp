// The Asio WebSocket client against an in-test server on 127.0.0.1:0.
#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

#include "core/socket/websocket_client.h"
#include "core/socket/websocket_upgrade.h"
#include "core/socket/ws_url.h"
#include "test_ws_server.h"

using namespace wa::socket;
using wa::test::TestWsConn;
using wa::test::TestWsServer;

TEST_CASE("ws URL parsing", "[websocket]") {
  auto u = parse_ws_url("wss://web.whatsapp.com/ws/chat");
  CHECK(u.tls);
  CHECK(u.host == "web.whatsapp.com");
  CHECK(u.port == "443");
  CHECK(u.path == "/ws/chat");
  CHECK(u.host_header() == "web.whatsapp.com");
  u = parse_ws_url("ws://127.0.0.1:8080");
  CHECK_FALSE(u.tls);
  CHECK(u.port == "8080");
  CHECK(u.path == "/");
  CHECK(u.host_header() == "127.0.0.1:8080");
  CHECK(parse_ws_url("ws://[::1]:9/x").host == "::1");
  CHECK_THROWS_AS(parse_ws_url("http://x/"), std::invalid_argument);
  CHECK_THROWS_AS(parse_ws_url("ws://:80/"), std::invalid_argument);
  CHECK_THROWS_AS(parse_ws_url("ws://h:99999/"), std::invalid_argument);
  CHECK_THROWS_AS(parse_ws_url("ws://u:p@h/"), std::invalid_argument);
}

TEST_CASE("upgrade accept key (RFC 6455 §1.3) and response checks", "[websocket]") {
  CHECK(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
  CHECK_NOTHROW(check_ws_upgrade_response(build_ws_upgrade_response(key), key));
  CHECK_THROWS_WITH(check_ws_upgrade_response("HTTP/1.1 403 Forbidden\r\n\r\n", key), Catch::Contains("403"));
  CHECK_THROWS_WITH(check_ws_upgrade_response(build_ws_upgrade_response("other"), key), Catch::Contains("Accept"));
  CHECK_THROWS_AS(check_ws_upgrade_response("HTTP/1.1 101 x\r\nbroken\r\n\r\n", key), UpgradeError);
  CHECK_THROWS_AS(check_ws_upgrade_response(std::string(kMaxUpgradeHeadSize + 1, 'a'), key), UpgradeError);
  auto req = build_ws_upgrade_request({"web.whatsapp.com", "/ws/chat", key, "https://web.whatsapp.com", ""});
  auto parsed = parse_ws_upgrade_request(req);
  CHECK(parsed.path == "/ws/chat");
  CHECK(parsed.headers.at("origin") == "https://web.whatsapp.com");
  CHECK(parsed.headers.count("user-agent") == 0);
}

TEST_CASE("client exchanges messages, answers pings, reassembles fragments, closes cleanly", "[websocket]") {
  TestWsServer server;
  std::string origin;
  std::atomic<bool> got_pong{false}, close_echoed{false};
  server.serve([&](TestWsConn& c) {
    auto req = c.upgrade();
    origin = req.headers.at("origin");
    // Echo the first binary message back in three fragments with a ping in between.
    WsMessage m = c.read_message();
    if (m.opcode != WsOpcode::binary) throw std::runtime_error("expected a binary message");
    Bytes a(m.payload.begin(), m.payload.begin() + 2), b(m.payload.begin() + 2, m.payload.end());
    c.send(WsOpcode::binary, a, false);
    c.send(WsOpcode::ping, wa::crypto::view("hi"));
    c.send(WsOpcode::continuation, b, false);
    c.send(WsOpcode::continuation, {}, true);
    WsMessage pong = c.read_message();
    got_pong = pong.opcode == WsOpcode::pong && pong.payload == wa::crypto::to_bytes(std::string_view("hi"));
    // A 70 000-byte message (64-bit length).
    c.send(WsOpcode::binary, Bytes(70000, 0x5a));
    WsMessage close = c.read_message();
    if (close.opcode == WsOpcode::close) {
      c.send(WsOpcode::close, close.payload);
      close_echoed = true;
    }
  });

  asio::io_context io;
  auto ws = WebSocketClient::create(io);
  std::vector<Bytes> received;
  std::optional<WsCloseInfo> closed;
  ws->set_message_handler([&](WsOpcode op, Bytes data) {
    CHECK(op == WsOpcode::binary);
    received.push_back(std::move(data));
    if (received.size() == 2) ws->close(ws_close::normal, "done");
  });
  ws->set_close_handler([&](const WsCloseInfo& info) { closed = info; });
  std::exception_ptr connect_error;
  ws->connect(server.url(), [&](std::exception_ptr e) {
    connect_error = e;
    if (!e) ws->send_binary(wa::crypto::from_hex("0102030405"));
  });
  io.run_for(std::chrono::seconds(10));
  server.stop();
  CHECK(server.error().empty());
  REQUIRE_FALSE(connect_error);
  CHECK(origin == "https://web.whatsapp.com");
  REQUIRE(received.size() == 2);
  CHECK(received[0] == wa::crypto::from_hex("0102030405"));
  CHECK(received[1] == Bytes(70000, 0x5a));
  CHECK(got_pong);
  CHECK(close_echoed);
  REQUIRE(closed);
  CHECK(closed->code == ws_close::normal);
  CHECK_FALSE(closed->by_peer);
  CHECK_FALSE(closed->error);
}

TEST_CASE("server-initiated close is answered and reported", "[websocket]") {
  TestWsServer server;
  std::atomic<bool> answered{false};
  server.serve([&](TestWsConn& c) {
    c.upgrade();
    c.send(WsOpcode::close, ws_close_payload(4000, "bye"));
    WsMessage m = c.read_message();
    answered = m.opcode == WsOpcode::close && m.payload.size() >= 2 && m.payload[0] == 0x0f && m.payload[1] == 0xa0;
  });
  asio::io_context io;
  auto ws = WebSocketClient::create(io);
  std::optional<WsCloseInfo> closed;
  ws->set_close_handler([&](const WsCloseInfo& info) { closed = info; });
  ws->connect(server.url(), [](std::exception_ptr e) { REQUIRE_FALSE(e); });
  io.run_for(std::chrono::seconds(10));
  server.stop();
  CHECK(server.error().empty());
  CHECK(answered);
  REQUIRE(closed);
  CHECK(closed->code == 4000);
  CHECK(closed->reason == "bye");
  CHECK(closed->by_peer);
}

TEST_CASE("client rejects a bad accept key, a masked server frame and oversized messages", "[websocket]") {
  SECTION("bad Sec-WebSocket-Accept") {
    TestWsServer server;
    server.serve([](TestWsConn& c) { c.upgrade(false); });
    asio::io_context io;
    auto ws = WebSocketClient::create(io);
    std::exception_ptr err;
    ws->connect(server.url(), [&](std::exception_ptr e) { err = e; });
    io.run_for(std::chrono::seconds(10));
    server.stop();
    REQUIRE(err);
    CHECK_THROWS_AS(std::rethrow_exception(err), UpgradeError);
  }
  SECTION("protocol error closes with 1002, size limit with 1009") {
    for (bool oversize : {false, true}) {
      TestWsServer server;
      std::atomic<int> close_code{0};
      server.serve([&](TestWsConn& c) {
        c.upgrade();
        if (oversize) {
          c.send(WsOpcode::binary, Bytes(2000));
        } else {
          c.send_raw(encode_ws_frame(WsOpcode::binary, Bytes(3), true, std::array<std::uint8_t, 4>{1, 2, 3, 4}));
        }
        WsMessage m = c.read_message();
        if (m.opcode == WsOpcode::close && m.payload.size() >= 2) close_code = m.payload[0] << 8 | m.payload[1];
      });
      asio::io_context io;
      WebSocketClientOptions opts;
      opts.max_message_size = 1000;
      opts.close_timeout = std::chrono::milliseconds(200);
      std::vector<std::string> decode_errors;
      opts.on_decode_error = [&](const char* kind) { decode_errors.push_back(kind); };
      auto ws = WebSocketClient::create(io, opts);
      std::optional<WsCloseInfo> closed;
      ws->set_close_handler([&](const WsCloseInfo& info) { closed = info; });
      ws->connect(server.url(), [](std::exception_ptr e) { REQUIRE_FALSE(e); });
      io.run_for(std::chrono::seconds(10));
      server.stop();
      CHECK(close_code == (oversize ? ws_close::too_big : ws_close::protocol_error));
      CHECK(decode_errors == std::vector<std::string>{"websocket"});
      REQUIRE(closed);
      CHECK(closed->error);
    }
  }
  SECTION("connection refused is a system_error naming the stage") {
    std::uint16_t port;
    {
      TestWsServer probe;  // grab a free port, then release it
      port = probe.port();
    }
    asio::io_context io;
    auto ws = WebSocketClient::create(io);
    std::exception_ptr err;
    ws->connect("ws://127.0.0.1:" + std::to_string(port) + "/", [&](std::exception_ptr e) { err = e; });
    io.run_for(std::chrono::seconds(10));
    REQUIRE(err);
    CHECK_THROWS_WITH(std::rethrow_exception(err), Catch::Contains("TCP connect"));
  }
}

TEST_CASE("abort drops the connection without a close frame and reports it once", "[websocket]") {
  TestWsServer server;
  std::atomic<bool> got_close_frame{false};
  server.serve([&](TestWsConn& c) {
    c.upgrade();
    WsMessage m = c.read_message();  // throws at EOF: abort sends nothing
    got_close_frame = m.opcode == WsOpcode::close;
  });
  asio::io_context io;
  auto ws = WebSocketClient::create(io);
  int closes = 0;
  WsCloseInfo last;
  ws->set_close_handler([&](const WsCloseInfo& info) {
    ++closes;
    last = info;
  });
  ws->connect(server.url(), [&](std::exception_ptr e) {
    REQUIRE_FALSE(e);
    CHECK(ws->is_open());
    ws->abort();
    ws->abort();
    ws->close();
  });
  io.run_for(std::chrono::seconds(10));
  server.stop();
  CHECK_FALSE(got_close_frame);
  CHECK_THAT(server.error(), Catch::Contains("End of file"));
  CHECK(closes == 1);
  CHECK(last.reason == "aborted locally");
  CHECK_FALSE(ws->is_open());
}

// A handover stops the old leader's client from the elector's thread and then unlocks: the server
// must see that connection end before the next leader logs in, even while the pool is busy.
TEST_CASE("abort from another thread ends the connection at once, while its strand is busy", "[websocket]") {
  TestWsServer server;
  std::promise<void> eof;
  auto eof_seen = eof.get_future();
  server.serve([&](TestWsConn& c) {
    c.upgrade();
    try {
      c.read_message();
    } catch (...) {
      eof.set_value();
      throw;
    }
  });
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  std::thread runner([&] { io.run(); });
  auto ws = WebSocketClient::create(io);
  std::atomic<int> closes{0};
  std::string reason;
  ws->set_close_handler([&](const WsCloseInfo& info) {
    reason = info.reason;
    ++closes;
  });
  std::promise<void> open;
  ws->connect(server.url(), [&](std::exception_ptr e) {
    if (!e) open.set_value();
  });
  REQUIRE(open.get_future().wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  std::promise<void> release;
  auto released = release.get_future().share();
  asio::post(io, [released] { released.wait(); });  // the only io thread is busy
  ws->abort();
  CHECK(eof_seen.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  release.set_value();
  work.reset();
  runner.join();
  server.stop();
  CHECK(closes == 1);
  CHECK(reason == "aborted locally");  // the abort ran before the read error it caused
}

TEST_CASE("abort during connect fails the connect, not the close handler", "[websocket]") {
  TestWsServer server;  // accepts but never answers the upgrade
  server.serve([](TestWsConn& c) { c.read_message(); });
  asio::io_context io;
  auto ws = WebSocketClient::create(io);
  bool close_called = false;
  ws->set_close_handler([&](const WsCloseInfo&) { close_called = true; });
  std::exception_ptr err;
  ws->connect(server.url(), [&](std::exception_ptr e) { err = e; });
  ws->abort();
  io.run_for(std::chrono::seconds(10));
  server.stop();
  REQUIRE(err);
  CHECK_THROWS_WITH(std::rethrow_exception(err), Catch::Contains("aborted"));
  CHECK_FALSE(close_called);
}

TEST_CASE("frames queued before the send gate closes or abort() is called never reach the server", "[websocket][gate]") {
  TestWsServer server;
  std::atomic<int> got{0};
  server.serve([&](TestWsConn& c) {
    c.upgrade();
    for (;;) {
      if (c.read_message().opcode == WsOpcode::binary) ++got;
    }
  });
  std::mutex gate_mu;
  bool gate_open = true;
  std::atomic<int> gate_calls{0};
  WebSocketClientOptions o;
  o.send_gate = [&](const std::function<void()>& write) {
    std::lock_guard lk(gate_mu);
    ++gate_calls;
    if (!gate_open) return false;
    write();
    return true;
  };
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  auto ws = WebSocketClient::create(io, o);
  std::promise<WsCloseInfo> closed;
  ws->set_close_handler([&](const WsCloseInfo& info) { closed.set_value(info); });
  std::promise<bool> opened;
  ws->connect(server.url(), [&](std::exception_ptr e) {
    if (!e) ws->send_binary(Bytes{1, 2, 3});
    opened.set_value(!e);
  });
  std::thread t([&] { io.run(); });
  auto open_fut = opened.get_future();
  REQUIRE(open_fut.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  REQUIRE(open_fut.get());
  for (int i = 0; i < 200 && got.load() < 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(got.load() == 1);
  REQUIRE(gate_calls.load() == 2);  // the upgrade request and the first frame

  // Hold the io thread so the next sends stay queued behind it, as frames do behind a busy client.
  std::promise<void> release;
  asio::post(io, [f = release.get_future().share()] { f.wait(); });
  for (int i = 0; i < 10; ++i) ws->send_binary(Bytes(1000, static_cast<std::uint8_t>(i)));
  std::string expect_reason;
  SECTION("the gate closes") {
    {
      std::lock_guard lk(gate_mu);
      gate_open = false;
    }
    expect_reason = "send refused by the gate";
  }
  SECTION("abort()") {
    ws->abort();
    expect_reason = "aborted locally";
  }
  release.set_value();
  auto fut = closed.get_future();
  REQUIRE(fut.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  CHECK(fut.get().reason == expect_reason);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  work.reset();
  io.stop();
  t.join();
  server.stop();
  CHECK(got.load() == 1);
}
