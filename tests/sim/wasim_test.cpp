// End-to-end tests of the real wasim binary on ephemeral ports.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/wait.h>

#include <ctime>
#include <thread>

#include "core/crypto/bytes.h"
#include "core/socket/cert_chain.h"
#include "tests/sim/harness.h"

using namespace wa::simtest;
using wa::binary::Node;
using wa::binary::NodeList;

namespace {

std::uint64_t now_unix() { return static_cast<std::uint64_t>(std::time(nullptr)); }

// Handshake with a registration payload; returns the first node (the pair-device IQ).
Node register_and_get_first_node(WaTestClient& c, const std::string& root_hex) {
  auto noise = wa::crypto::KeyPair::generate();
  wa::crypto::Key32 server_static{};
  auto chain = c.handshake(noise, registration_payload(), server_static);
  // The chain must verify under wasim's root, and bind the static key we were sent.
  wa::socket::verify_cert_chain(chain, server_static, wa::crypto::key32_from_hex(root_hex), now_unix());
  auto node = c.recv_node();
  REQUIRE(node);
  return *node;
}

void check_pair_device(const Node& n) {
  CHECK(n.tag == "iq");
  CHECK(n.attr_text("type") == "set");
  CHECK(n.attr_text("xmlns") == "md");
  REQUIRE(n.children().size() == 1);
  const auto& pd = n.children()[0];
  CHECK(pd.tag == "pair-device");
  CHECK(pd.children().size() == 6);
  for (const auto& ref : pd.children()) {
    CHECK(ref.tag == "ref");
    CHECK(ref.bytes() != nullptr);
  }
}

// SIGTERM: wasim must exit 0 (graceful), and under sanitizers report nothing.
void stop_cleanly(WasimProcess& w) {
  int status = w.terminate();
  REQUIRE(status != -1);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  for (const auto& l : w.log_lines()) {
    INFO(l);
    CHECK(l.find("Sanitizer") == std::string::npos);
    CHECK(l.find("runtime error") == std::string::npos);
  }
}

std::string malformed_count(const WasimProcess& w, const std::string& kind) {
  auto h = http_request(w.admin_port(), "GET", "/admin/health");
  return json_field(h.body, kind).value_or("0");
}

}  // namespace

TEST_CASE("wasim keeps its root key across restarts and serves it", "[sim][process]") {
  TempDir dir;
  std::string first_key;
  {
    WasimProcess w(dir.path());
    REQUIRE(w.root_key_hex().size() == 64);
    first_key = w.root_key_hex();
    auto r = http_request(w.admin_port(), "GET", "/admin/root-key");
    CHECK(r.status == 200);
    CHECK(json_field(r.body, "root_public_key") == first_key);
    struct stat st{};
    REQUIRE(::stat((dir.path() / "root-key").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    stop_cleanly(w);
  }
  WasimProcess again(dir.path());
  CHECK(again.root_key_hex() == first_key);
  CHECK(json_field(http_request(again.admin_port(), "GET", "/admin/root-key").body, "root_public_key") == first_key);

  TempDir other;
  WasimProcess fresh(other.path());
  CHECK(fresh.root_key_hex() != first_key);
}

TEST_CASE("wasim refuses a root key file others can read", "[sim][process]") {
  TempDir dir;
  { WasimProcess w(dir.path()); }
  REQUIRE(::chmod((dir.path() / "root-key").c_str(), 0644) == 0);
  CHECK_THROWS_WITH(WasimProcess(dir.path()), Catch::Contains("exited during start-up"));
}

TEST_CASE("admin endpoints answer JSON, with 4xx for bad requests", "[sim][process][admin]") {
  TempDir dir;
  WasimProcess w(dir.path());
  auto health = http_request(w.admin_port(), "GET", "/admin/health");
  CHECK(health.status == 200);
  CHECK(json_field(health.body, "status") == "ok");
  auto conns = http_request(w.admin_port(), "GET", "/admin/connections");
  CHECK(conns.status == 200);
  CHECK(conns.body.rfind("{\"connections\":[", 0) == 0);
  CHECK(http_request(w.admin_port(), "GET", "/admin/connections?limit=5").status == 200);

  struct Case {
    std::string method, target;
    int status;
  };
  for (const auto& c : std::vector<Case>{{"GET", "/admin/nope", 404},
                                         {"GET", "/", 404},
                                         {"POST", "/admin/health", 405},
                                         {"DELETE", "/admin/root-key", 405},
                                         {"GET", "/admin/connections?limit=0", 400},
                                         {"GET", "/admin/connections?limit=abc", 400},
                                         {"GET", "/admin/connections?limit=1001", 400},
                                         {"GET", "/admin/connections?limit=1&limit=2", 400},
                                         {"GET", "/admin/connections?foo=1", 400},
                                         {"GET", "/admin/connections?limit=%zz", 400},
                                         {"GET", "/admin/root-key?x=1", 400},
                                         {"GET", "/admin/health?" + std::string(2000, 'a'), 414}}) {
    INFO(c.method << " " << c.target.substr(0, 60));
    auto r = http_request(w.admin_port(), c.method, c.target);
    CHECK(r.status == c.status);
    CHECK(json_field(r.body, "error").has_value());
  }
  stop_cleanly(w);
}

TEST_CASE("a registering client completes the handshake and gets the pair-device IQ", "[sim][process][handshake]") {
  TempDir dir;
  WasimProcess w(dir.path());
  struct Variant {
    std::uint8_t dict;
    bool ed;
  };
  for (auto v : {Variant{3, false}, Variant{2, false}, Variant{3, true}}) {
    INFO("dict " << int(v.dict) << " ED prefix " << v.ed);
    WaTestClient c(w.ws_port(), v.dict, v.ed);
    REQUIRE(c.ws().upgrade_status() == 101);
    auto iq = register_and_get_first_node(c, w.root_key_hex());
    check_pair_device(iq);

    // Acknowledge it as Baileys does, then keepalive: the ping is answered with its id.
    c.send_node(Node{"iq", {{"to", std::string("s.whatsapp.net")}, {"type", std::string("result")},
                            {"id", *iq.attr_text("id")}}, {}});
    c.send_node(Node{"iq", {{"id", std::string("ka-1")}, {"xmlns", std::string("w:p")}, {"type", std::string("get")},
                            {"to", std::string("s.whatsapp.net")}}, NodeList{Node{"ping", {}, {}}}});
    auto pong = c.recv_node();
    REQUIRE(pong);
    CHECK(pong->tag == "iq");
    CHECK(pong->attr_text("type") == "result");
    CHECK(pong->attr_text("id") == "ka-1");
  }
  auto conns = http_request(w.admin_port(), "GET", "/admin/connections?limit=1");
  CHECK(json_field(conns.body, "dict_version") == "3");
  CHECK(json_field(conns.body, "payload_kind") == "registration");
  CHECK(json_field(conns.body, "handshake_ms") != "null");
  stop_cleanly(w);
}

TEST_CASE("wasim's chain does not verify under the production root key", "[sim][process][handshake]") {
  TempDir dir;
  WasimProcess w(dir.path());
  WaTestClient c(w.ws_port(), 3);
  wa::crypto::Key32 server_static{};
  auto chain = c.handshake(wa::crypto::KeyPair::generate(), registration_payload(), server_static);
  CHECK_THROWS_AS(wa::socket::verify_cert_chain(chain, server_static, wa::socket::wa_production_root_key(), now_unix()),
                  wa::socket::CertChainError);
  CHECK_NOTHROW(wa::socket::verify_cert_chain(chain, server_static, wa::crypto::key32_from_hex(w.root_key_hex()),
                                              now_unix()));
}

TEST_CASE("a login for an unknown device gets failure 401 and the connection closes", "[sim][process][login]") {
  TempDir dir;
  WasimProcess w(dir.path());
  WaTestClient c(w.ws_port(), 3);
  wa::crypto::Key32 server_static{};
  c.handshake(wa::crypto::KeyPair::generate(), login_payload(15551234567ull, 3), server_static);
  auto n = c.recv_node();
  REQUIRE(n);
  CHECK(n->tag == "failure");
  CHECK(n->attr_text("reason") == "401");
  CHECK(c.ws().wait_closed());
  auto conns = http_request(w.admin_port(), "GET", "/admin/connections?limit=1");
  CHECK(json_field(conns.body, "payload_kind") == "login");
  CHECK(json_field(conns.body, "close_reason").value_or("").find("401") != std::string::npos);
  stop_cleanly(w);
}

TEST_CASE("malformed input closes that connection only and wasim keeps serving", "[sim][process][robustness]") {
  TempDir dir;
  WasimProcess w(dir.path());

  SECTION("bytes that are not WebSocket frames") {
    WsClient ws(w.ws_port());
    REQUIRE(ws.upgrade_status() == 101);
    ws.send_raw(std::string("\x82\x05hello", 7));  // unmasked client frame: protocol error
    CHECK(ws.wait_closed());
    CHECK(ws.close_code() == 1002);
    CHECK(malformed_count(w, "websocket") == "1");
  }
  SECTION("a bad connection header") {
    WsClient ws(w.ws_port());
    ws.send_binary({'G', 'E', 'T', ' ', '/', 0, 0, 0});
    CHECK(ws.wait_closed());
    CHECK(malformed_count(w, "frame") == "1");
  }
  SECTION("an unsupported dictionary version") {
    WsClient ws(w.ws_port());
    ws.send_binary({'W', 'A', 6, 9, 0, 0, 1, 0});
    CHECK(ws.wait_closed());
    CHECK(malformed_count(w, "frame") == "1");
  }
  SECTION("a garbage first frame after a good header") {
    WsClient ws(w.ws_port());
    ws.send_binary({'W', 'A', 6, 3, 0, 0, 4, 0xFF, 0xFF, 0xFF, 0xFF});
    CHECK(ws.wait_closed());
    CHECK(malformed_count(w, "handshake") == "1");
  }
  SECTION("an oversized frame length") {
    WsClient ws(w.ws_port());
    // Declares 16 MiB - 1 and then stops: wasim must not wait for it forever nor crash; the
    // client goes away, and the server keeps running.
    ws.send_binary({'W', 'A', 6, 3, 0xFF, 0xFF, 0xFF, 1, 2, 3});
  }
  SECTION("a non-WebSocket request") {
    auto r = http_request(w.ws_port(), "GET", "/ws/chat");
    CHECK(r.status == 426);
    CHECK(json_field(r.body, "error").has_value());
    CHECK(http_request(w.ws_port(), "GET", "/elsewhere").status == 404);
  }

  // Whatever happened above, a well-behaved client still gets through.
  WaTestClient c(w.ws_port(), 3);
  check_pair_device(register_and_get_first_node(c, w.root_key_hex()));
  CHECK(json_field(http_request(w.admin_port(), "GET", "/admin/health").body, "status") == "ok");
  stop_cleanly(w);
}

TEST_CASE("SIGTERM closes open connections with 1001 and exits 0", "[sim][process][shutdown]") {
  TempDir dir;
  WasimProcess w(dir.path());
  WaTestClient c(w.ws_port(), 3);
  check_pair_device(register_and_get_first_node(c, w.root_key_hex()));
  WsClient idle(w.ws_port());  // upgraded, never speaks
  REQUIRE(idle.upgrade_status() == 101);
  stop_cleanly(w);
  CHECK(c.ws().wait_closed());
  CHECK(c.ws().close_code() == 1001);
  CHECK(idle.wait_closed());
}

TEST_CASE("a client that stalls in the handshake is closed at the handshake deadline", "[sim][process][robustness]") {
  TempDir dir;
  WasimProcess w(dir.path(), {"--handshake-timeout-ms", "300"});
  WsClient ws(w.ws_port());
  REQUIRE(ws.upgrade_status() == 101);
  ws.send_binary({'W', 'A', 6, 3});  // header, then nothing
  auto t0 = std::chrono::steady_clock::now();
  CHECK(ws.wait_closed(5000ms));
  CHECK(ws.close_code() == 1008);
  CHECK(std::chrono::steady_clock::now() - t0 < 3000ms);
  CHECK(malformed_count(w, "timeout") == "1");
  // A client that completes the handshake in time is not affected by the deadline afterwards.
  WaTestClient c(w.ws_port(), 3);
  check_pair_device(register_and_get_first_node(c, w.root_key_hex()));
  std::this_thread::sleep_for(500ms);  // past the deadline: the connection must still be open
  c.send_node(Node{"iq", {{"id", std::string("ka")}, {"xmlns", std::string("w:p")}, {"type", std::string("get")}}, {}});
  auto pong = c.recv_node();
  REQUIRE(pong);
  CHECK(pong->attr_text("id") == "ka");
  stop_cleanly(w);
}
