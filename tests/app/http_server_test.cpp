// The HTTP surface over real sockets: each endpoint's codes and bodies, routing, limits.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "app/http_server.h"
#include "app/status_json.h"
#include "app/watchdog.h"
#include "common/metrics.h"
#include "http_client.h"

using wa::app::HttpHandlers;
using wa::app::HttpRequest;
using wa::app::HttpResponse;
using wa::app::HttpServer;
using wa::test::http_raw;
using wa::test::http_request;

namespace {

struct FakeClock {
  std::atomic<std::int64_t> ms{1000};
  wa::app::Watchdog::Clock::time_point now() const {
    return wa::app::Watchdog::Clock::time_point(std::chrono::milliseconds(ms.load()));
  }
};

}  // namespace

TEST_CASE("server binds an ephemeral port and reports it", "[http]") {
  HttpServer s("127.0.0.1", 0, HttpHandlers{});
  CHECK(s.port() > 0);
  CHECK(s.port() <= 65535);
}

TEST_CASE("/health follows the watchdog: 200 while beating, 503 when stalled", "[http]") {
  FakeClock clock;
  wa::app::Watchdog wd(std::chrono::seconds(5), [&] { return clock.now(); });
  HttpHandlers h;
  h.live = [&] { return !wd.stalled(); };
  HttpServer s("127.0.0.1", 0, h);

  auto r = http_request(s.port(), "GET", "/health");
  CHECK(r.status == 200);
  CHECK(r.headers["content-type"] == "application/json");
  CHECK(r.body == R"({"status":"ok"})");

  clock.ms += 5001;  // no beat for longer than the limit
  r = http_request(s.port(), "GET", "/health");
  CHECK(r.status == 503);
  CHECK(r.body == R"({"status":"stalled"})");

  wd.beat();
  CHECK(http_request(s.port(), "GET", "/health").status == 200);
}

TEST_CASE("/ready answers 200 or 503 with the reasons as JSON", "[http]") {
  wa::app::PodStatus st;
  st.pod = "waconnector-0";
  std::mutex mu;
  HttpHandlers h;
  h.ready = [&] {
    std::lock_guard lock(mu);
    return wa::app::evaluate_ready(st);
  };
  HttpServer s("127.0.0.1", 0, h);

  auto r = http_request(s.port(), "GET", "/ready");
  CHECK(r.status == 503);
  CHECK(r.body.find("database unreachable") != std::string::npos);
  CHECK(r.body.find("elector not running") != std::string::npos);
  {
    std::lock_guard lock(mu);
    st.db_reachable = true;
    st.elector_running = true;
  }
  r = http_request(s.port(), "GET", "/ready");
  CHECK(r.status == 200);
  CHECK(r.body == R"({"ready":true,"reasons":[]})");
}

TEST_CASE("/ready without a wired handler is 503, not a false 200", "[http]") {
  HttpServer s("127.0.0.1", 0, HttpHandlers{});
  CHECK(http_request(s.port(), "GET", "/ready").status == 503);
  CHECK(http_request(s.port(), "GET", "/status").status == 503);
  CHECK(http_request(s.port(), "GET", "/metrics").status == 503);
}

TEST_CASE("/status serves the JSON the runner renders", "[http]") {
  HttpHandlers h;
  h.status_json = [] {
    wa::app::PodStatus st;
    st.pod = "pod-a";
    st.accounts.push_back({"42", "active", 7, 1700000000000, "15551234567@s.whatsapp.net", "logged_in"});
    return wa::app::render_status_json(st);
  };
  HttpServer s("127.0.0.1", 0, h);
  auto r = http_request(s.port(), "GET", "/status");
  CHECK(r.status == 200);
  CHECK(r.headers["content-type"] == "application/json");
  CHECK(r.body.find(R"("pod":"pod-a")") != std::string::npos);
  CHECK(r.body.find(R"("epoch":7)") != std::string::npos);
  CHECK(r.body.find("15551234567") == std::string::npos);  // jid masked
}

TEST_CASE("/metrics uses the Prometheus text content type", "[http]") {
  wa::Metrics m;
  HttpHandlers h;
  h.metrics = &m;
  HttpServer s("127.0.0.1", 0, h);
  auto r = http_request(s.port(), "GET", "/metrics");
  CHECK(r.status == 200);
  CHECK(r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(r.body.find("waconnector_build_info") != std::string::npos);
}

TEST_CASE("unknown paths are 404 and wrong methods 405, both with JSON bodies", "[http]") {
  HttpServer s("127.0.0.1", 0, HttpHandlers{});
  auto r = http_request(s.port(), "GET", "/nope");
  CHECK(r.status == 404);
  CHECK(r.headers["content-type"] == "application/json");
  CHECK(r.body == R"({"error":{"code":"not_found","message":"no such endpoint: /nope"}})");

  r = http_request(s.port(), "POST", "/health", "x");
  CHECK(r.status == 405);
  CHECK(r.headers["allow"] == "GET, HEAD");
  CHECK(r.body.find("\"error\"") != std::string::npos);

  r = http_request(s.port(), "DELETE", "/metrics");
  CHECK(r.status == 405);
}

TEST_CASE("HEAD gets the headers without a body", "[http]") {
  HttpServer s("127.0.0.1", 0, HttpHandlers{});
  auto r = http_request(s.port(), "HEAD", "/health");
  CHECK(r.status == 200);
  CHECK(r.headers["content-length"] == "15");
  CHECK(r.body.empty());
}

TEST_CASE("extra routes: prefix match, longest prefix wins, method checked", "[http]") {
  HttpServer s("127.0.0.1", 0, HttpHandlers{});
  s.add_route("GET", "/v1/accounts/", [](const HttpRequest& req) {
    HttpResponse r;
    r.body = "{\"path\":\"" + req.path + "\",\"query\":\"" + req.query + "\",\"accept\":\"" + req.accept + "\"}";
    return r;
  });
  s.add_route("GET", "/v1/accounts/special", [](const HttpRequest&) {
    HttpResponse r;
    r.content_type = "text/plain";
    r.body = "special";
    return r;
  });
  s.add_route("POST", "/v1/echo", [](const HttpRequest& req) {
    HttpResponse r;
    r.status = 201;
    r.body = req.body;
    return r;
  });

  auto r = http_request(s.port(), "GET", "/v1/accounts/42/qr?format=svg", "", "Accept: image/png\r\n");
  CHECK(r.status == 200);
  CHECK(r.body == R"({"path":"/v1/accounts/42/qr","query":"format=svg","accept":"image/png"})");

  r = http_request(s.port(), "GET", "/v1/accounts/special");
  CHECK(r.status == 200);
  CHECK(r.body == "special");
  CHECK(r.headers["content-type"] == "text/plain");

  r = http_request(s.port(), "POST", "/v1/accounts/42/qr", "{}");
  CHECK(r.status == 405);
  CHECK(r.headers["allow"] == "GET");

  r = http_request(s.port(), "POST", "/v1/echo", R"({"a":1})");
  CHECK(r.status == 201);
  CHECK(r.body == R"({"a":1})");

  CHECK(http_request(s.port(), "GET", "/v1/other").status == 404);
  CHECK_THROWS_AS(s.add_route("GET", "no-slash", [](const HttpRequest&) { return HttpResponse{}; }),
                  std::invalid_argument);
}

TEST_CASE("a throwing handler gives 500 without details, and the server keeps serving", "[http]") {
  HttpServer s("127.0.0.1", 0, HttpHandlers{});
  s.add_route("GET", "/boom", [](const HttpRequest&) -> HttpResponse { throw std::runtime_error("secret detail"); });
  auto r = http_request(s.port(), "GET", "/boom");
  CHECK(r.status == 500);
  CHECK(r.body == R"({"error":{"code":"internal","message":"internal error"}})");
  CHECK(http_request(s.port(), "GET", "/health").status == 200);
}

TEST_CASE("request limits: oversized bodies get 413, oversized headers are refused", "[http]") {
  wa::app::HttpOptions opt;
  opt.max_body_bytes = 100;
  opt.max_request_bytes = 2048;
  HttpServer s("127.0.0.1", 0, HttpHandlers{}, opt);
  s.add_route("POST", "/v1/echo", [](const HttpRequest& req) {
    HttpResponse r;
    r.body = req.body;
    return r;
  });
  CHECK(http_request(s.port(), "POST", "/v1/echo", std::string(100, 'a')).status == 200);
  auto r = http_request(s.port(), "POST", "/v1/echo", std::string(101, 'a'));
  CHECK(r.status == 413);
  CHECK(r.body.find("larger than 100 bytes") != std::string::npos);

  // Headers beyond max_request_size: civetweb answers with an error status (or just closes).
  const std::string raw = "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4096, 'b') + "\r\n\r\n";
  int status = 0;
  try {
    status = http_raw(s.port(), raw).status;
  } catch (const std::runtime_error&) {
    status = -1;  // closed without an answer: refused as well
  }
  CHECK(status != 200);
  CHECK(http_request(s.port(), "GET", "/health").status == 200);
}

TEST_CASE("a port already in use fails with a message naming the address", "[http]") {
  HttpServer a("127.0.0.1", 0, HttpHandlers{});
  try {
    HttpServer b("127.0.0.1", a.port(), HttpHandlers{});
    FAIL("second bind on the same port succeeded");
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    INFO(what);
    CHECK(what.rfind("cannot serve HTTP on 127.0.0.1:" + std::to_string(a.port()) + ": ", 0) == 0);
    CHECK(what.find("Address already in use") != std::string::npos);
  }
  CHECK_THROWS_AS(HttpServer("127.0.0.1", 70000, HttpHandlers{}), std::runtime_error);
}

TEST_CASE("idle connections do not starve /health", "[http]") {
  HttpServer s("127.0.0.1", 0, HttpHandlers{});
  // Three clients that connect and send nothing (a slow or broken scraper, a port scanner).
  std::vector<int> idle;
  for (int i = 0; i < 3; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(s.port()));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    idle.push_back(fd);
  }
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = http_request(s.port(), "GET", "/health");
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  for (int fd : idle) ::close(fd);
  CHECK(r.status == 200);
  // With every worker stuck on an idle connection this would wait for the request timeout (2 s).
  CHECK(ms < 1000);
}

TEST_CASE("concurrent clients all get answers", "[http]") {
  wa::Metrics m;
  HttpHandlers h;
  h.metrics = &m;
  HttpServer s("127.0.0.1", 0, h);
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t)
    clients.emplace_back([&] {
      for (int i = 0; i < 10; ++i)
        if (http_request(s.port(), "GET", i % 2 ? "/metrics" : "/health").status == 200) ++ok;
    });
  for (auto& c : clients) c.join();
  CHECK(ok == 80);
}

TEST_CASE("a handler may add routes while serving", "[http]") {
  HttpServer s("127.0.0.1", 0, HttpHandlers{});
  s.add_route("POST", "/v1/register", [&s](const HttpRequest& req) {
    const std::string body = req.body;
    s.add_route("GET", "/v1/dyn/" + body, [body](const HttpRequest&) {
      HttpResponse r;
      r.body = "{\"name\":\"" + body + "\"}";
      return r;
    });
    HttpResponse r;
    r.status = 204;
    return r;
  });
  CHECK(http_request(s.port(), "GET", "/v1/dyn/x").status == 404);
  CHECK(http_request(s.port(), "POST", "/v1/register", "x").status == 204);
  auto r = http_request(s.port(), "GET", "/v1/dyn/x");
  CHECK(r.status == 200);
  CHECK(r.body == R"({"name":"x"})");
}
