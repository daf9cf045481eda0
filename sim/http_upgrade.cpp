#include "sim/http_upgrade.h"

#include "common/json_string.h"

namespace wa::sim {
namespace {

const char* reason_phrase(int status) {
  switch (status) {
    case 101: return "Switching Protocols";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 426: return "Upgrade Required";
    case 431: return "Request Header Fields Too Large";
    default: return "Error";
  }
}

std::string header(const socket::ParsedUpgradeRequest& r, const std::string& name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? std::string() : it->second;
}

}  // namespace

std::optional<UpgradeRequest> UpgradeParser::feed(std::string_view bytes, std::string_view expected_path) {
  if (done_) throw UpgradeError("upgrade request already complete");
  buf_.append(bytes);
  auto end = buf_.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (buf_.size() > limits_.max_head_bytes) throw UpgradeError("request header block too large", 431);
    return std::nullopt;
  }
  done_ = true;
  leftover_ = buf_.substr(end + 4);
  auto parsed = socket::parse_ws_upgrade_request(std::string_view(buf_).substr(0, end + 4), limits_, expected_path);
  buf_.clear();
  UpgradeRequest req;
  req.path = std::move(parsed.path);
  req.query = std::move(parsed.query);
  req.websocket_key = header(parsed, "sec-websocket-key");
  req.origin = header(parsed, "origin");
  req.user_agent = header(parsed, "user-agent");
  return req;
}

std::string upgrade_response(const UpgradeRequest& req) {
  return socket::build_ws_upgrade_response(req.websocket_key);
}

std::string http_error_response(int status, std::string_view reason) {
  const std::string body = wa::json_error_body(reason);
  std::string r = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n";
  if (status == 426) r += "Sec-WebSocket-Version: 13\r\n";
  r += "Content-Type: application/json\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) +
       "\r\n\r\n" + body;
  return r;
}

}  // namespace wa::sim
