// The pod's HTTP surface: /health (liveness), /ready (readiness), /status (JSON) and /metrics
// (Prometheus text), plus extra routes later issues register (e.g. GET /v1/accounts/{id}/qr).
// HTTP parsing is civetweb's; this class only routes and answers. Handlers run on civetweb's
// worker threads (2-4 of them), so whatever they read must be thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "common/metrics.h"

namespace wa::app {

struct HttpRequest {
  std::string method;        // "GET", "POST", ...
  std::string path;          // decoded path, e.g. "/v1/accounts/42/qr"
  std::string query;         // raw query string without '?', empty if none
  std::string accept;        // Accept header, empty if none
  std::string body;          // request body (bounded by HttpOptions::max_body_bytes)
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;

  // {"error": message} with the given status.
  static HttpResponse json_error(int status, std::string_view message);
};

using RouteHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpHandlers {
  std::function<bool()> live;                            // /health: true -> 200, false -> 503
  std::function<std::pair<bool, std::string>()> ready;   // /ready: 200/503 + JSON body (reason)
  std::function<std::string()> status_json;              // /status body (application/json)
  wa::Metrics* metrics = nullptr;                        // /metrics; 503 when null
};

struct HttpOptions {
  // civetweb worker threads (clamped to 1..4). A worker is tied to a connection from accept until
  // the request is read, so a few idle connections could otherwise starve the probes.
  int threads = 4;
  std::size_t max_request_bytes = 8192;   // request line + headers
  std::size_t max_body_bytes = 16384;     // bodies above this get 413
  // How long a worker waits for a request; kept below the probes' 3 s timeout.
  std::chrono::milliseconds request_timeout{2000};
};

class HttpServer {
 public:
  // Binds host:port (port 0 = ephemeral) and starts serving. Throws std::runtime_error naming
  // the address and civetweb's reason if it cannot bind.
  HttpServer(const std::string& host, int port, HttpHandlers handlers, HttpOptions options = {});
  ~HttpServer();  // stops the server; returns when no handler runs any more
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const;  // the port actually bound

  // Adds a route: requests whose path starts with `prefix` are given to `h` when the method
  // matches; a matching prefix with another method gets 405. Longest prefix wins. Safe to call
  // while serving.
  void add_route(std::string method, std::string prefix, RouteHandler h);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace wa::app
