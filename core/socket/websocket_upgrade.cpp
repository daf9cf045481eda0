#include "core/socket/websocket_upgrade.h"

#include <algorithm>
#include <cctype>
#include <vector>

#include "core/crypto/base64.h"
#include "core/crypto/digest.h"
#include "core/crypto/random.h"

namespace wa::socket {

namespace {

constexpr char kGuid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Comma-separated header value contains `token` (case-insensitive).
bool has_token(std::string_view value, std::string_view token) {
  std::string v = lower(value);
  std::string t = lower(token);
  std::size_t start = 0;
  while (start <= v.size()) {
    std::size_t comma = v.find(',', start);
    if (comma == std::string::npos) comma = v.size();
    if (trim(std::string_view(v).substr(start, comma - start)) == t) return true;
    start = comma + 1;
  }
  return false;
}

// Splits the head into its first line and lower-cased headers.
std::string parse_head(std::string_view head, std::map<std::string, std::string>& headers, const UpgradeLimits& limits) {
  if (head.size() > limits.max_head_bytes) {
    throw UpgradeError("head larger than " + std::to_string(limits.max_head_bytes) + " bytes", 431);
  }
  std::size_t end = head.find("\r\n\r\n");
  if (end == std::string_view::npos) throw UpgradeError("head is not terminated by an empty line");
  head = head.substr(0, end + 2);
  std::size_t pos = 0;
  std::string first;
  std::size_t lines = 0;
  while (pos < head.size()) {
    std::size_t next = head.find("\r\n", pos);
    std::string_view line = head.substr(pos, next - pos);
    pos = next + 2;
    if (line.size() > limits.max_line_bytes) throw UpgradeError("header line too long", 431);
    if (lines++ == 0) {
      first = std::string(line);
      continue;
    }
    if (lines > limits.max_headers + 1) throw UpgradeError("too many header lines", 431);
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) throw UpgradeError("malformed header line");
    std::string name = lower(line.substr(0, colon));
    if (name.find_first_of(" \t") != std::string::npos) throw UpgradeError("whitespace in a header name");
    std::string value(trim(line.substr(colon + 1)));
    auto [it, inserted] = headers.emplace(name, value);
    if (!inserted) it->second += ", " + value;
  }
  return first;
}

std::string header(const std::map<std::string, std::string>& h, const std::string& name) {
  auto it = h.find(name);
  return it == h.end() ? std::string() : it->second;
}

}  // namespace

std::string ws_accept_key(std::string_view client_key) {
  std::string s(client_key);
  s += kGuid;
  return crypto::base64_encode(crypto::sha1(crypto::view(s)));
}

std::string make_ws_client_key() { return crypto::base64_encode(crypto::random_bytes(16)); }

std::string build_ws_upgrade_request(const WsUpgradeRequest& req) {
  std::string out = "GET " + req.path + " HTTP/1.1\r\n";
  out += "Host: " + req.host + "\r\n";
  out += "Upgrade: websocket\r\n";
  out += "Connection: Upgrade\r\n";
  out += "Sec-WebSocket-Key: " + req.key + "\r\n";
  out += "Sec-WebSocket-Version: 13\r\n";
  if (!req.origin.empty()) out += "Origin: " + req.origin + "\r\n";
  out += "Cache-Control: no-cache\r\n";
  out += "Pragma: no-cache\r\n";
  if (!req.user_agent.empty()) out += "User-Agent: " + req.user_agent + "\r\n";
  out += "\r\n";
  return out;
}

void check_ws_upgrade_response(std::string_view head, std::string_view client_key) {
  std::map<std::string, std::string> h;
  std::string status = parse_head(head, h, UpgradeLimits{});
  // "HTTP/1.1 101 Switching Protocols"
  if (status.rfind("HTTP/1.1 ", 0) != 0 || status.size() < 12) {
    throw UpgradeError("bad status line \"" + status.substr(0, 64) + "\"");
  }
  std::string code = status.substr(9, 3);
  if (code != "101") throw UpgradeError("server answered " + status.substr(9, 64) + " instead of 101");
  if (!has_token(header(h, "upgrade"), "websocket")) throw UpgradeError("missing Upgrade: websocket");
  if (!has_token(header(h, "connection"), "upgrade")) throw UpgradeError("missing Connection: Upgrade");
  if (header(h, "sec-websocket-accept") != ws_accept_key(client_key)) {
    throw UpgradeError("Sec-WebSocket-Accept does not match our key");
  }
  if (!header(h, "sec-websocket-extensions").empty()) throw UpgradeError("server chose an extension we did not offer");
  if (!header(h, "sec-websocket-protocol").empty()) throw UpgradeError("server chose a subprotocol we did not offer");
}

ParsedUpgradeRequest parse_ws_upgrade_request(std::string_view head, const UpgradeLimits& limits,
                                              std::string_view expected_path) {
  ParsedUpgradeRequest req;
  std::string first = parse_head(head, req.headers, limits);
  std::size_t sp1 = first.find(' ');
  std::size_t sp2 = sp1 == std::string::npos ? std::string::npos : first.find(' ', sp1 + 1);
  if (sp2 == std::string::npos) throw UpgradeError("bad request line");
  req.method = first.substr(0, sp1);
  std::string target = first.substr(sp1 + 1, sp2 - sp1 - 1);
  if (first.substr(sp2 + 1) != "HTTP/1.1") throw UpgradeError("not HTTP/1.1");
  if (req.method != "GET") throw UpgradeError("method " + req.method.substr(0, 16) + " is not GET", 405);
  if (target.empty() || target.front() != '/') throw UpgradeError("request target is not an absolute path");
  std::size_t q = target.find('?');
  req.path = target.substr(0, q);
  if (q != std::string::npos) req.query = target.substr(q + 1);
  if (!expected_path.empty() && req.path != expected_path) throw UpgradeError("unknown path", 404);
  if (header(req.headers, "host").empty()) throw UpgradeError("missing Host header");
  if (!has_token(header(req.headers, "upgrade"), "websocket")) throw UpgradeError("missing Upgrade: websocket", 426);
  if (!has_token(header(req.headers, "connection"), "upgrade")) throw UpgradeError("missing Connection: Upgrade", 426);
  if (header(req.headers, "sec-websocket-version") != "13") throw UpgradeError("Sec-WebSocket-Version is not 13", 426);
  auto key = crypto::base64_decode(header(req.headers, "sec-websocket-key"));
  if (!key || key->size() != 16) throw UpgradeError("Sec-WebSocket-Key is not 16 bytes of base64");
  return req;
}

std::string build_ws_upgrade_response(std::string_view client_key) {
  return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
         ws_accept_key(client_key) + "\r\n\r\n";
}

}  // namespace wa::socket
