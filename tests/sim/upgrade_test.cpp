#include <catch2/catch.hpp>

#include "sim/http_upgrade.h"

using wa::sim::UpgradeError;
using wa::sim::UpgradeParser;

namespace {

std::string request(const std::string& first_line, const std::string& extra = {}) {
  return first_line + "\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
         extra + "\r\n";
}

int status_of(const std::string& req) {
  UpgradeParser p;
  try {
    p.feed(req, "/ws/chat");
  } catch (const UpgradeError& e) {
    return e.status();
  }
  return 0;
}

}  // namespace

TEST_CASE("Sec-WebSocket-Accept matches RFC 6455's example", "[sim][upgrade]") {
  CHECK(wa::socket::ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST_CASE("a valid upgrade request parses incrementally and keeps pipelined bytes", "[sim][upgrade]") {
  auto req = request("GET /ws/chat?ED=abc HTTP/1.1", "Origin: https://web.whatsapp.com\r\n") + "WA\x06\x03";
  UpgradeParser p;
  std::optional<wa::sim::UpgradeRequest> got;
  for (char c : req) {
    if (got) break;
    got = p.feed(std::string_view(&c, 1), "/ws/chat");
  }
  REQUIRE(got);
  CHECK(got->path == "/ws/chat");
  CHECK(got->query == "ED=abc");
  CHECK(got->origin == "https://web.whatsapp.com");
  auto resp = wa::sim::upgrade_response(*got);
  CHECK(resp.rfind("HTTP/1.1 101 ", 0) == 0);
  CHECK(resp.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != std::string::npos);

  UpgradeParser whole;
  auto r = whole.feed(req, "/ws/chat");
  REQUIRE(r);
  CHECK(whole.leftover() == "WA\x06\x03");
}

TEST_CASE("bad upgrade requests are rejected with the right status", "[sim][upgrade]") {
  CHECK(status_of(request("GET /ws/chat HTTP/1.1")) == 0);
  CHECK(status_of(request("POST /ws/chat HTTP/1.1")) == 405);
  CHECK(status_of(request("GET /other HTTP/1.1")) == 404);
  CHECK(status_of(request("GET /ws/chat HTTP/1.0")) == 400);
  CHECK(status_of(request("GET /ws/chat")) == 400);
  CHECK(status_of(request("GET ws/chat HTTP/1.1")) == 400);
  CHECK(status_of("GET /ws/chat HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\nConnection: Upgrade\r\n\r\n") == 426);
  CHECK(status_of("GET /ws/chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n") == 400);
  CHECK(status_of("GET /ws/chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n") == 426);
  CHECK(status_of("GET /ws/chat HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n") == 400);
  CHECK(status_of(request("GET /ws/chat HTTP/1.1", "no colon here\r\n")) == 400);
  CHECK(status_of("\r\n\r\n") == 400);
}

TEST_CASE("upgrade request size limits hold", "[sim][upgrade]") {
  // Endless header bytes without a blank line: rejected once over the limit, not buffered forever.
  UpgradeParser p;
  std::string junk(1024, 'a');
  int status = 0;
  try {
    for (int i = 0; i < 100; ++i) p.feed(junk, "/ws/chat");
  } catch (const UpgradeError& e) {
    status = e.status();
  }
  CHECK(status == 431);

  std::string many;
  for (int i = 0; i < 80; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
  CHECK(status_of(request("GET /ws/chat HTTP/1.1", many)) == 431);

  wa::sim::UpgradeLimits small;
  small.max_line_bytes = 64;
  UpgradeParser q(small);
  int s2 = 0;
  try {
    q.feed(request("GET /ws/chat HTTP/1.1", "X-Long: " + std::string(100, 'b') + "\r\n"), "/ws/chat");
  } catch (const UpgradeError& e) {
    s2 = e.status();
  }
  CHECK(s2 == 431);
}

TEST_CASE("error responses carry a JSON reason", "[sim][upgrade]") {
  auto r = wa::sim::http_error_response(404, "unknown \"path\"");
  CHECK(r.rfind("HTTP/1.1 404 Not Found\r\n", 0) == 0);
  CHECK(r.find("{\"error\":\"unknown \\\"path\\\"\"}") != std::string::npos);
}
