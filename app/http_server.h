// The pod's HTTP surface: /health (liveness), /ready (readiness), /status (JSON) and /metrics
// (Prometheus text), plus the routes the API registers (/v1/...).
// HTTP parsing is civetweb's; this class only routes and answers. Handlers run on civetweb's
// worker threads (HttpOptions::threads of them), so whatever they read must be thread-safe.
// The probes are also served on a listener of their own (app/probe_listener.h, HttpOptions::
// probe_port) that API clients cannot starve: civetweb holds a worker per open connection.
// Every error answer, civetweb's own included (400/411/413/505...), is
// {"error":{"code":"...","message":"..."}}.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "common/metrics.h"

namespace wa::app {

struct HttpRequest {
  std::string method;        // "GET", "POST", ...
  std::string path;          // decoded path, e.g. "/v1/accounts/42/qr"
  std::string query;         // raw query string without '?', empty if none
  std::string accept;        // Accept header, empty if none
  std::string authorization;    // Authorization header, empty if none
  std::string idempotency_key;  // Idempotency-Key header, empty if none
  std::string last_event_id;    // Last-Event-ID header (an SSE client resuming), empty if none
  std::string content_type;     // Content-Type header, empty if none
  bool has_idempotency_key = false;
  std::string body;          // request body (bounded by HttpOptions::max_body_bytes)
};

// A streamed answer's sink (Server-Sent Events). write() sends bytes at once and returns false
// when the client is gone (a write that cannot finish within the request timeout counts as gone);
// stopping() turns true when the server shuts down, and the stream should then return promptly.
class StreamWriter {
 public:
  virtual ~StreamWriter() = default;
  virtual bool write(std::string_view bytes) = 0;
  virtual bool stopping() const = 0;
};
using StreamBody = std::function<void(StreamWriter&)>;

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::string headers;  // extra header lines, each "Name: value\r\n" (e.g. Location, Allow)
  // When set, the answer has no length: the headers go out, then `stream` writes until it
  // returns (on this worker thread; `body` is ignored). Not run for HEAD.
  StreamBody stream = nullptr;

  // {"error":{"code":code,"message":message}} with the given status; an empty code is the
  // status's default word (400 bad_request, 401 unauthorized, 404 not_found, ...).
  static HttpResponse json_error(int status, std::string_view message, std::string_view code = {});
};

// The default error code word for an HTTP status ("bad_request", "not_found", ...).
std::string_view error_code_for(int status);

using RouteHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpHandlers {
  std::function<bool()> live;                            // /health: true -> 200, false -> 503
  std::function<std::pair<bool, std::string>()> ready;   // /ready: 200/503 + JSON body (reason)
  std::function<std::string()> status_json;              // /status body (application/json)
  wa::Metrics* metrics = nullptr;                        // /metrics; 503 when null
};

struct HttpOptions {
  // civetweb worker threads (clamped to 1..64). A worker is tied to a connection from accept until
  // the request is read, which is why the probes have a listener of their own.
  int threads = 16;
  // Accepted connections waiting for a worker; beyond it civetweb stops accepting and the kernel's
  // backlog (listen_backlog) holds the rest: together the connection cap.
  int connection_queue = 64;
  int listen_backlog = 128;
  std::size_t max_request_bytes = 8192;   // request line + headers
  std::size_t max_body_bytes = 65536;     // bodies above this get 413
  // How long a worker waits for a complete request (headers and body) before closing it.
  std::chrono::milliseconds request_timeout{2000};
  // The probes' own listener (same host): -1 = none, 0 = ephemeral, else the port.
  int probe_port = -1;
};

class HttpServer {
 public:
  // Binds host:port (port 0 = ephemeral) and starts serving. Throws std::runtime_error naming
  // the address and civetweb's reason if it cannot bind.
  HttpServer(const std::string& host, int port, HttpHandlers handlers, HttpOptions options = {});
  ~HttpServer();  // stops the server; returns when no handler runs any more
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const;        // the port actually bound
  int probe_port() const;  // the probe listener's port, or -1 when there is none

  // Adds a route: requests whose path starts with `prefix` are given to `h` when the method
  // matches; a matching prefix with another method gets 405. Longest prefix wins. Safe to call
  // while serving.
  void add_route(std::string method, std::string prefix, RouteHandler h);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace wa::app
