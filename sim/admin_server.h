// wasim's admin API: HTTP+JSON on civetweb. Routes are registered by exact method+path, so later
// issues add theirs (/admin/phones, ...) without touching this file. Every answer is JSON; unknown
// paths, wrong methods and bad input get a 4xx with {"error": reason}.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "core/binary/json.h"

struct mg_context;
struct mg_connection;

namespace wa::sim {

// The largest request body: a 65,536-character text JSON-escaped as \uXXXX (6 bytes each) fits.
inline constexpr std::size_t kMaxAdminBody = 1u << 20;

struct AdminRequest {
  std::string method;
  std::string path;
  std::map<std::string, std::string> query;  // decoded; duplicate keys -> 400 before handlers run
  std::string body;                          // request body (at most kMaxAdminBody, else 413)
};

struct AdminResponse {
  int status = 200;
  std::string body;  // JSON
  static AdminResponse error(int status, const std::string& reason);
};

using AdminHandler = std::function<AdminResponse(const AdminRequest&)>;

// Thrown by a handler (directly or through the helpers below) to answer `status` with
// {"error": what()}: bad input is refused where it is found, without threading a response back.
class AdminError : public std::runtime_error {
 public:
  AdminError(int status, const std::string& reason) : std::runtime_error(reason), status(status) {}
  int status;
};

// The request body as a JSON object within `limits`; an empty body is {}. Throws AdminError 400.
wa::binary::Json json_object_body(const AdminRequest& req, const wa::binary::JsonLimits& limits);
// `key` of a JSON object when it is a string.
std::optional<std::string> string_field(const wa::binary::Json& object, std::string_view key);
// `s` as a JSON string literal, quotes included (the answers are written by hand).
std::string json_quoted(std::string_view s);

class AdminServer {
 public:
  // Nothing listens until start(), so every route is in place before the first request.
  AdminServer(std::string host, int port) : host_(std::move(host)), requested_port_(port) {}
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Only before start(); handlers run on civetweb worker threads.
  void route(const std::string& method, const std::string& path, AdminHandler handler);
  // Every path starting with `prefix` (e.g. "/admin/phones/") that no exact route takes; the
  // longest matching prefix wins. The handler parses the rest of req.path itself.
  void route_prefix(const std::string& method, const std::string& prefix, AdminHandler handler);
  // Binds host:port (port 0 = ephemeral); throws std::runtime_error if it cannot.
  void start();
  int port() const { return port_; }  // the bound port, after start()

 private:
  static int dispatch(mg_connection* conn, void* self);
  AdminResponse handle(mg_connection* conn);

  struct CtxDeleter {
    void operator()(mg_context* c) const;
  };
  std::map<std::pair<std::string, std::string>, AdminHandler> routes_;
  std::map<std::pair<std::string, std::string>, AdminHandler> prefix_routes_;
  std::string host_;
  int requested_port_;
  std::unique_ptr<mg_context, CtxDeleter> ctx_;
  int port_ = 0;
};

}  // namespace wa::sim
