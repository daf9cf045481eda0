#include "sim/admin_server.h"

#include <civetweb.h>

#include <cstring>
#include <stdexcept>
#include <vector>

#include "common/log.h"

namespace wa::sim {
namespace {

constexpr std::size_t kMaxQueryBytes = 1024;
constexpr std::size_t kMaxQueryParams = 16;
constexpr std::size_t kMaxBodyBytes = kMaxAdminBody;

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes a query component; returns false on a malformed escape.
bool url_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = hexval(in[i + 1]), lo = hexval(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += c;
    }
  }
  return true;
}

int on_log_message(const mg_connection*, const char* message) {
  wa::log::warn("wasim_admin_http").kv("message", message ? message : "");
  return 1;  // handled: keep civetweb from printing to stderr
}

}  // namespace

AdminResponse AdminResponse::error(int status, const std::string& reason) {
  AdminResponse r;
  r.status = status;
  r.body = wa::json_error_body(reason);
  return r;
}

void AdminServer::CtxDeleter::operator()(mg_context* c) const { mg_stop(c); }

void AdminServer::start() {
  if (ctx_) throw std::logic_error("wasim admin: already started");
  mg_init_library(0);
  std::string ports = host_ + ":" + std::to_string(requested_port_);
  const char* options[] = {"listening_ports", ports.c_str(), "num_threads", "2", "request_timeout_ms", "5000",
                           "enable_keep_alive", "no", nullptr};
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof(callbacks));
  callbacks.log_message = on_log_message;
  ctx_.reset(mg_start(&callbacks, nullptr, options));
  if (!ctx_) throw std::runtime_error("wasim admin: cannot listen on " + ports);
  mg_server_port sp[4];
  int n = mg_get_server_ports(ctx_.get(), 4, sp);
  if (n < 1) throw std::runtime_error("wasim admin: no listening port on " + ports);
  port_ = sp[0].port;
  mg_set_request_handler(ctx_.get(), "/", &AdminServer::dispatch, this);
}

AdminServer::~AdminServer() {
  ctx_.reset();  // mg_stop joins the workers, so no handler runs past this point
}

void AdminServer::route(const std::string& method, const std::string& path, AdminHandler handler) {
  if (ctx_) throw std::logic_error("wasim admin: routes must be added before start()");
  routes_[{method, path}] = std::move(handler);
}

void AdminServer::route_prefix(const std::string& method, const std::string& prefix, AdminHandler handler) {
  if (ctx_) throw std::logic_error("wasim admin: routes must be added before start()");
  prefix_routes_[{method, prefix}] = std::move(handler);
}

wa::binary::Json json_object_body(const AdminRequest& req, const wa::binary::JsonLimits& limits) {
  wa::binary::Json j;
  if (req.body.find_first_not_of(" \t\r\n") == std::string::npos) {
    j.type = wa::binary::Json::Type::object;
    return j;
  }
  try {
    j = wa::binary::parse_json(req.body, limits);
  } catch (const wa::binary::JsonError& e) {
    throw AdminError(400, std::string("body is not JSON: ") + e.what());
  }
  if (j.type != wa::binary::Json::Type::object) throw AdminError(400, "body must be a JSON object");
  return j;
}

std::optional<std::string> string_field(const wa::binary::Json& object, std::string_view key) {
  const auto* v = object.find(key);
  if (!v || v->type != wa::binary::Json::Type::string) return std::nullopt;
  return v->text;
}

std::string json_quoted(std::string_view s) {
  std::string out;
  wa::log::append_json_string(out, s);
  return out;
}

int AdminServer::dispatch(mg_connection* conn, void* self) {
  AdminResponse resp;
  try {
    resp = static_cast<AdminServer*>(self)->handle(conn);
  } catch (const AdminError& e) {
    resp = AdminResponse::error(e.status, e.what());
  } catch (const std::exception& e) {
    wa::log::error("wasim_admin_handler_failed").kv("error", e.what());
    resp = AdminResponse::error(500, "internal error");
  }
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            resp.status, mg_get_response_code_text(conn, resp.status), resp.body.size());
  mg_write(conn, resp.body.data(), resp.body.size());
  return resp.status;
}

AdminResponse AdminServer::handle(mg_connection* conn) {
  const mg_request_info* ri = mg_get_request_info(conn);
  AdminRequest req;
  req.method = ri->request_method ? ri->request_method : "";
  req.path = ri->local_uri ? ri->local_uri : "";
  std::string_view qs = ri->query_string ? ri->query_string : "";
  if (qs.size() > kMaxQueryBytes) return AdminResponse::error(414, "query string too long");
  while (!qs.empty()) {
    auto amp = qs.find('&');
    auto part = qs.substr(0, amp);
    qs = amp == std::string_view::npos ? std::string_view() : qs.substr(amp + 1);
    if (part.empty()) continue;
    auto eq = part.find('=');
    std::string k, v;
    if (!url_decode(part.substr(0, eq), k) ||
        !url_decode(eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1), v))
      return AdminResponse::error(400, "malformed percent-encoding in query string");
    if (req.query.size() >= kMaxQueryParams) return AdminResponse::error(400, "too many query parameters");
    if (!req.query.emplace(k, v).second) return AdminResponse::error(400, "duplicate query parameter: " + k);
  }
  if (ri->content_length > static_cast<long long>(kMaxBodyBytes)) return AdminResponse::error(413, "body larger than 1 MiB");
  char buf[4096];
  while (true) {
    int n = mg_read(conn, buf, sizeof(buf));
    if (n <= 0) break;
    req.body.append(buf, static_cast<std::size_t>(n));
    if (req.body.size() > kMaxBodyBytes) return AdminResponse::error(413, "body larger than 1 MiB");
  }
  auto it = routes_.find({req.method, req.path});
  if (it != routes_.end()) return it->second(req);
  bool path_known = false;
  for (const auto& [key, _] : routes_)
    if (key.second == req.path) path_known = true;
  if (!path_known) {
    const AdminHandler* best = nullptr;
    std::size_t best_len = 0;
    for (const auto& [key, handler] : prefix_routes_) {
      if (req.path.rfind(key.second, 0) != 0 || key.second.size() < best_len) continue;
      path_known = true;
      if (key.first == req.method) {
        best = &handler;
        best_len = key.second.size();
      }
    }
    if (best) return (*best)(req);
  }
  if (path_known) return AdminResponse::error(405, "method not allowed: " + req.method);
  return AdminResponse::error(404, "no such endpoint: " + req.path);
}

}  // namespace wa::sim
