#include "app/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <civetweb.h>
#include <fmt/format.h>

#include "app/probe_listener.h"
#include "common/log.h"

namespace wa::app {
namespace {

constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

struct Route {
  std::string method;
  std::string prefix;
  RouteHandler handler;
};

// civetweb's context, stopped on destruction (mg_stop joins every worker thread).
struct ContextDeleter {
  void operator()(mg_context* c) const { mg_stop(c); }
};

// mg_init_library/mg_exit_library are reference counted by civetweb itself; this keeps each
// server's init and exit paired.
struct LibraryRef {
  LibraryRef() { mg_init_library(0); }
  ~LibraryRef() { mg_exit_library(); }
  LibraryRef(const LibraryRef&) = delete;
  LibraryRef& operator=(const LibraryRef&) = delete;
};

void send(mg_connection* conn, const std::string& method, const HttpResponse& r) {
  const char* reason = mg_get_response_code_text(conn, r.status);
  // A stream has no length; X-Accel-Buffering keeps nginx-style proxies from holding events back.
  const std::string length =
      r.stream ? std::string("X-Accel-Buffering: no\r\n") : fmt::format("Content-Length: {}\r\n", r.body.size());
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\n"
            "Content-Type: %s\r\n"
            "%s"
            "Cache-Control: no-store\r\n"
            "X-Content-Type-Options: nosniff\r\n"
            "%s"
            "Connection: close\r\n\r\n",
            r.status, reason != nullptr ? reason : "", r.content_type.c_str(), length.c_str(), r.headers.c_str());
  if (method == "HEAD") return;
  if (!r.body.empty() && !r.stream) mg_write(conn, r.body.data(), r.body.size());
}

class ConnectionWriter final : public StreamWriter {
 public:
  ConnectionWriter(mg_connection* conn, const std::atomic<bool>& stopping) : conn_(conn), stopping_(stopping) {}
  bool write(std::string_view bytes) override {
    if (gone_ || bytes.empty()) return !gone_;
    gone_ = mg_write(conn_, bytes.data(), bytes.size()) != static_cast<int>(bytes.size());
    return !gone_;
  }
  bool stopping() const override { return stopping_.load(); }

 private:
  mg_connection* conn_;
  const std::atomic<bool>& stopping_;
  bool gone_ = false;
};

// Opens and closes one TCP connection to the server. civetweb's master thread sleeps in poll()
// for up to 2 s (its SOCKET_TIMEOUT_QUANTUM) before it notices mg_stop(); an incoming connection
// wakes it at once, which keeps shutdown (and the SIGTERM handover budget) short.
void poke(const std::string& host, int port) {
  const bool v6 = host.find(':') != std::string::npos;
  const int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return;
  if (v6) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(static_cast<uint16_t>(port));
    if (host == "::" || ::inet_pton(AF_INET6, host.c_str(), &a.sin6_addr) != 1) a.sin6_addr = in6addr_loopback;
    ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (host == "0.0.0.0" || ::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  ::close(fd);
}

// civetweb reports why it could not start (e.g. the bind error) through log_message with no
// connection, from the thread calling mg_start2; this collects those lines for the exception.
thread_local std::string* t_startup_messages = nullptr;

bool is_get(const std::string& m) { return m == "GET" || m == "HEAD"; }

}  // namespace

std::string_view error_code_for(int status) {
  switch (status) {
    case 400: return "bad_request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 406: return "not_acceptable";
    case 408: return "request_timeout";
    case 409: return "conflict";
    case 411: return "length_required";
    case 413: return "payload_too_large";
    case 414: return "uri_too_long";
    case 415: return "unsupported_media_type";
    case 422: return "unprocessable";
    case 429: return "too_many_requests";
    case 431: return "request_too_large";
    case 500: return "internal";
    case 501: return "not_implemented";
    case 503: return "unavailable";
    case 505: return "http_version_not_supported";
    default: return status >= 500 ? "server_error" : "client_error";
  }
}

HttpResponse HttpResponse::json_error(int status, std::string_view message, std::string_view code) {
  HttpResponse r;
  r.status = status;
  r.body = "{\"error\":{\"code\":";
  wa::append_json_string(r.body, code.empty() ? error_code_for(status) : code);
  r.body += ",\"message\":";
  wa::append_json_string(r.body, message);
  r.body += "}}";
  return r;
}

struct HttpServer::Impl {
  HttpHandlers handlers;
  HttpOptions options;
  std::string host;
  std::string address;
  mutable std::shared_mutex routes_mu;
  std::vector<Route> routes;
  LibraryRef lib;
  std::unique_ptr<mg_context, ContextDeleter> ctx;
  std::unique_ptr<ProbeListener> probes;
  int port = 0;
  std::atomic<bool> stopping{false};  // streams end when set (before mg_stop joins the workers)

  HttpResponse builtin(const std::string& path, bool& found) const;
  HttpResponse builtin_request(const std::string& method, const std::string& path) const;
  HttpResponse dispatch(const HttpRequest& req) const;
  static int on_request(mg_connection* conn);
  static int on_log(const mg_connection* conn, const char* message);
  static int on_http_error(mg_connection* conn, int status, const char* message);
};

HttpResponse HttpServer::Impl::builtin(const std::string& path, bool& found) const {
  found = true;
  HttpResponse r;
  if (path == "/health") {
    const bool live = !handlers.live || handlers.live();
    r.status = live ? 200 : 503;
    r.body = live ? R"({"status":"ok"})" : R"({"status":"stalled"})";
  } else if (path == "/ready") {
    if (!handlers.ready) {
      r.status = 503;
      r.body = R"({"ready":false,"reasons":["readiness not wired"]})";
    } else {
      auto [ok, body] = handlers.ready();
      r.status = ok ? 200 : 503;
      r.body = body.empty() ? (ok ? R"({"ready":true})" : R"({"ready":false})") : std::move(body);
    }
  } else if (path == "/status") {
    if (!handlers.status_json) return HttpResponse::json_error(503, "status not wired");
    r.body = handlers.status_json();
  } else if (path == "/metrics") {
    if (handlers.metrics == nullptr) return HttpResponse::json_error(503, "metrics not wired");
    r.content_type = kMetricsContentType;
    r.body = handlers.metrics->serialize();
  } else {
    found = false;
  }
  return r;
}

static bool is_builtin(const std::string& path) {
  static const std::vector<std::string> kBuiltins = {"/health", "/ready", "/status", "/metrics"};
  return std::find(kBuiltins.begin(), kBuiltins.end(), path) != kBuiltins.end();
}

HttpResponse HttpServer::Impl::builtin_request(const std::string& method, const std::string& path) const {
  if (!is_builtin(path)) return HttpResponse::json_error(404, fmt::format("no such endpoint: {}", path));
  if (!is_get(method)) {
    auto r = HttpResponse::json_error(405, fmt::format("method {} not allowed on {}", method, path));
    r.headers = "Allow: GET, HEAD\r\n";
    return r;
  }
  bool found = false;
  return builtin(path, found);
}

HttpResponse HttpServer::Impl::dispatch(const HttpRequest& req) const {
  if (is_builtin(req.path)) return builtin_request(req.method, req.path);

  // Longest matching prefix decides; among its routes the method must match.
  // The handler is copied out and run without the lock: a slow handler must not hold up
  // add_route, and a handler may itself add routes.
  RouteHandler chosen;
  std::string allow;
  {
    std::shared_lock lock(routes_mu);
    std::size_t best = 0;
    bool any = false;
    for (const auto& rt : routes) {
      if (req.path.compare(0, rt.prefix.size(), rt.prefix) == 0 && rt.prefix.size() >= best) {
        best = rt.prefix.size();
        any = true;
      }
    }
    if (!any) return HttpResponse::json_error(404, fmt::format("no such endpoint: {}", req.path));
    for (const auto& rt : routes) {
      if (rt.prefix.size() != best || req.path.compare(0, best, rt.prefix) != 0) continue;
      if (rt.method == req.method || (req.method == "HEAD" && rt.method == "GET")) {
        chosen = rt.handler;
        break;
      }
      allow += (allow.empty() ? "" : ", ") + rt.method;
    }
  }
  if (chosen) return chosen(req);
  auto r = HttpResponse::json_error(405, fmt::format("method {} not allowed on {}", req.method, req.path));
  r.headers = "Allow: " + allow + "\r\n";
  return r;
}

int HttpServer::Impl::on_request(mg_connection* conn) {
  const mg_request_info* ri = mg_get_request_info(conn);
  auto* self = static_cast<const Impl*>(mg_get_user_data(mg_get_context(conn)));
  HttpRequest req;
  req.method = ri->request_method != nullptr ? ri->request_method : "";
  req.path = ri->local_uri != nullptr ? ri->local_uri : "";
  req.query = ri->query_string != nullptr ? ri->query_string : "";
  if (const char* a = mg_get_header(conn, "Accept"); a != nullptr) req.accept = a;
  if (const char* a = mg_get_header(conn, "Authorization"); a != nullptr) req.authorization = a;
  if (const char* a = mg_get_header(conn, "Content-Type"); a != nullptr) req.content_type = a;
  if (const char* a = mg_get_header(conn, "Last-Event-ID"); a != nullptr) req.last_event_id = a;
  if (const char* a = mg_get_header(conn, "Idempotency-Key"); a != nullptr) {
    req.idempotency_key = a;
    req.has_idempotency_key = true;
  }

  HttpResponse resp;
  try {
    // Bodies are read fully (bounded) so that handlers see them whole and oversized ones are
    // refused before any handler runs.
    const std::size_t limit = self->options.max_body_bytes;
    if (ri->content_length > 0 && static_cast<unsigned long long>(ri->content_length) > limit) {
      resp = HttpResponse::json_error(413, fmt::format("request body larger than {} bytes", limit));
    } else {
      bool too_big = false;
      char buf[4096];
      for (;;) {
        const int n = mg_read(conn, buf, sizeof buf);
        if (n <= 0) break;
        if (req.body.size() + static_cast<std::size_t>(n) > limit) {
          too_big = true;
          break;
        }
        req.body.append(buf, static_cast<std::size_t>(n));
      }
      resp = too_big ? HttpResponse::json_error(413, fmt::format("request body larger than {} bytes", limit))
                     : self->dispatch(req);
    }
  } catch (const std::exception& e) {
    wa::log::error("http_handler_failed").kv("method", req.method).kv("path", req.path).kv("error", e.what());
    resp = HttpResponse::json_error(500, "internal error");
  }
  if (resp.status < 100 || resp.status > 599) resp = HttpResponse::json_error(500, "handler returned an invalid status");
  send(conn, req.method, resp);
  if (resp.stream && req.method != "HEAD") {
    ConnectionWriter writer(conn, self->stopping);
    try {
      resp.stream(writer);
    } catch (const std::exception& e) {
      wa::log::warn("http_stream_failed").kv("path", req.path).kv("error", e.what());
    }
  }
  return resp.status;
}

// civetweb's own refusals (malformed request 400, missing length 411, oversized headers 413/431,
// unsupported version 505, ...) in the same JSON shape as ours; its message text is not sent
// (it may echo request bytes).
int HttpServer::Impl::on_http_error(mg_connection* conn, int status, const char*) {
  const char* text = mg_get_response_code_text(conn, status);
  const auto resp = HttpResponse::json_error(status, text != nullptr && *text != '\0' ? text : "request refused");
  send(conn, "GET", resp);
  return 0;  // handled: civetweb sends nothing of its own
}

int HttpServer::Impl::on_log(const mg_connection*, const char* message) {
  if (t_startup_messages != nullptr && message != nullptr) {
    if (!t_startup_messages->empty()) *t_startup_messages += "; ";
    *t_startup_messages += message;
  }
  // civetweb's own diagnostics (bad requests, socket errors) as JSON lines instead of raw stderr.
  wa::log::warn("http_server_message").kv("message", message != nullptr ? message : "");
  return 1;
}

HttpServer::HttpServer(const std::string& host, int port, HttpHandlers handlers, HttpOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (port < 0 || port > 65535) throw std::runtime_error(fmt::format("HTTP port {} is outside 0..65535", port));
  impl_->handlers = std::move(handlers);
  options.threads = std::clamp(options.threads, 1, 64);
  options.connection_queue = std::clamp(options.connection_queue, 1, 4096);
  options.listen_backlog = std::clamp(options.listen_backlog, 1, 4096);
  impl_->options = options;
  const bool v6 = host.find(':') != std::string::npos;
  impl_->host = host;
  impl_->address = v6 ? fmt::format("[{}]:{}", host, port) : fmt::format("{}:{}", host, port);

  const std::string threads = std::to_string(options.threads);
  const std::string max_req = std::to_string(options.max_request_bytes);
  const std::string timeout = std::to_string(options.request_timeout.count());
  const std::string queue = std::to_string(options.connection_queue);
  const std::string backlog = std::to_string(options.listen_backlog);
  const char* opts[] = {"listening_ports", impl_->address.c_str(),
                        "num_threads", threads.c_str(),
                        "max_request_size", max_req.c_str(),
                        "request_timeout_ms", timeout.c_str(),
                        "linger_timeout_ms", "500",
                        // No keep-alive: an idle kept-alive socket would hold a worker.
                        "enable_keep_alive", "no",
                        "keep_alive_timeout_ms", "500",
                        "listen_backlog", backlog.c_str(),
                        "connection_queue", queue.c_str(),
                        nullptr};
  mg_callbacks cb{};
  cb.begin_request = &Impl::on_request;
  cb.log_message = &Impl::on_log;
  cb.http_error = &Impl::on_http_error;
  mg_init_data init{};
  init.callbacks = &cb;
  init.user_data = impl_.get();
  init.configuration_options = opts;
  char err_text[256] = {0};
  unsigned err_code = 0;
  mg_error_data err{};
  err.code = &err_code;
  err.text = err_text;
  err.text_buffer_size = sizeof err_text;
  std::string startup_messages;
  t_startup_messages = &startup_messages;
  impl_->ctx.reset(mg_start2(&init, &err));
  t_startup_messages = nullptr;
  if (!impl_->ctx) {
    const std::string why = !startup_messages.empty() ? startup_messages
                            : err_text[0] != '\0'    ? std::string(err_text)
                                                      : std::string("civetweb failed to start");
    throw std::runtime_error(fmt::format("cannot serve HTTP on {}: {}", impl_->address, why));
  }
  mg_server_port ports[4] = {};
  const int n = mg_get_server_ports(impl_->ctx.get(), 4, ports);
  if (n < 1) throw std::runtime_error(fmt::format("cannot serve HTTP on {}: no listening port", impl_->address));
  impl_->port = ports[0].port;
  wa::log::info("http_listening").kv("address", impl_->address).kv("port", impl_->port).kv("threads", options.threads);
  if (options.probe_port >= 0) {
    const Impl* self = impl_.get();
    impl_->probes = std::make_unique<ProbeListener>(
        host, options.probe_port,
        [self](const std::string& method, const std::string& path) { return self->builtin_request(method, path); });
  }
}

HttpServer::~HttpServer() {
  if (!impl_) return;
  impl_->probes.reset();
  impl_->stopping = true;
  if (!impl_->ctx) return;
  std::atomic<bool> stopped{false};
  std::thread waker([&] {
    while (!stopped.load()) {
      poke(impl_->host, impl_->port);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  impl_->ctx.reset();  // mg_stop: joins civetweb's threads
  stopped = true;
  waker.join();
}

int HttpServer::port() const { return impl_->port; }
int HttpServer::probe_port() const { return impl_->probes ? impl_->probes->port() : -1; }

void HttpServer::add_route(std::string method, std::string prefix, RouteHandler h) {
  if (prefix.empty() || prefix.front() != '/') throw std::invalid_argument("route prefix must start with '/': " + prefix);
  if (!h) throw std::invalid_argument("route handler is empty for " + prefix);
  std::unique_lock lock(impl_->routes_mu);
  impl_->routes.push_back(Route{std::move(method), std::move(prefix), std::move(h)});
}

}  // namespace wa::app
