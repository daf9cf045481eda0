#include "sim/http_upgrade.h"

#include <algorithm>
#include <cctype>
#include <memory>
#include <vector>

#include "common/log.h"
#include "core/socket/websocket_upgrade.h"

namespace wa::sim {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// True if the comma-separated header value contains `token` (case-insensitive).
bool has_token(std::string_view value, std::string_view token) {
  const std::string want = lower(token);
  while (!value.empty()) {
    auto comma = value.find(',');
    auto part = trim(value.substr(0, comma));
    if (lower(part) == want) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

// Sec-WebSocket-Key must be base64 of exactly 16 bytes: 24 characters ending in "==".
bool valid_key(std::string_view key) {
  if (key.size() != 24 || key.substr(22) != "==") return false;
  return std::all_of(key.begin(), key.begin() + 22, [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/';
  });
}

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

}  // namespace

std::optional<UpgradeRequest> UpgradeParser::feed(std::string_view bytes, std::string_view expected_path) {
  if (done_) throw UpgradeError(400, "upgrade request already complete");
  buf_.append(bytes);
  auto end = buf_.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (buf_.size() > limits_.max_header_bytes) throw UpgradeError(431, "request header block too large");
    return std::nullopt;
  }
  if (end + 4 > limits_.max_header_bytes) throw UpgradeError(431, "request header block too large");
  done_ = true;
  leftover_ = buf_.substr(end + 4);
  auto req = parse(std::string_view(buf_).substr(0, end + 2), expected_path);
  buf_.clear();
  return req;
}

UpgradeRequest UpgradeParser::parse(std::string_view head, std::string_view expected_path) const {
  std::vector<std::string_view> lines;
  while (!head.empty()) {
    auto eol = head.find("\r\n");
    if (eol == std::string_view::npos) throw UpgradeError(400, "header line without CRLF");
    if (eol > limits_.max_line_bytes) throw UpgradeError(431, "header line too long");
    lines.push_back(head.substr(0, eol));
    head.remove_prefix(eol + 2);
    if (lines.size() > limits_.max_headers + 1) throw UpgradeError(431, "too many header lines");
  }
  if (lines.empty()) throw UpgradeError(400, "empty request");

  // Request line: METHOD SP TARGET SP HTTP/1.1
  std::string_view rl = lines[0];
  auto sp1 = rl.find(' ');
  auto sp2 = sp1 == std::string_view::npos ? sp1 : rl.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos) throw UpgradeError(400, "malformed request line");
  auto method = rl.substr(0, sp1);
  auto target = rl.substr(sp1 + 1, sp2 - sp1 - 1);
  auto version = rl.substr(sp2 + 1);
  if (version != "HTTP/1.1") throw UpgradeError(400, "HTTP version must be HTTP/1.1");
  if (method != "GET") throw UpgradeError(405, "method must be GET");
  if (target.empty() || target.front() != '/') throw UpgradeError(400, "request target must be an absolute path");

  UpgradeRequest req;
  auto q = target.find('?');
  req.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) req.query = std::string(target.substr(q + 1));

  std::string upgrade, connection, version_hdr;
  bool have_host = false;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    auto line = lines[i];
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) throw UpgradeError(400, "malformed header line");
    auto name = lower(line.substr(0, colon));
    if (name.find_first_of(" \t") != std::string::npos) throw UpgradeError(400, "whitespace in header name");
    auto value = std::string(trim(line.substr(colon + 1)));
    if (name == "host") have_host = true;
    else if (name == "upgrade") upgrade = value;
    else if (name == "connection") connection = value;
    else if (name == "sec-websocket-key") req.websocket_key = value;
    else if (name == "sec-websocket-version") version_hdr = value;
    else if (name == "origin") req.origin = value;
    else if (name == "user-agent") req.user_agent = value;
  }
  if (req.path != expected_path) throw UpgradeError(404, "unknown path");
  if (!have_host) throw UpgradeError(400, "missing Host header");
  if (!has_token(upgrade, "websocket")) throw UpgradeError(426, "missing Upgrade: websocket");
  if (!has_token(connection, "upgrade")) throw UpgradeError(426, "missing Connection: upgrade");
  if (version_hdr != "13") throw UpgradeError(426, "Sec-WebSocket-Version must be 13");
  if (!valid_key(req.websocket_key)) throw UpgradeError(400, "invalid Sec-WebSocket-Key");
  return req;
}

std::string websocket_accept(std::string_view key) { return socket::ws_accept_key(key); }

std::string upgrade_response(const UpgradeRequest& req) {
  return socket::build_ws_upgrade_response(req.websocket_key);
}

std::string http_error_response(int status, std::string_view reason) {
  std::string body = "{\"error\":";
  wa::log::append_json_string(body, reason);
  body += "}";
  std::string r = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n";
  if (status == 426) r += "Sec-WebSocket-Version: 13\r\n";
  r += "Content-Type: application/json\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) +
       "\r\n\r\n" + body;
  return r;
}

}  // namespace wa::sim
