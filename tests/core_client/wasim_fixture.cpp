#include "tests/core_client/wasim_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <thread>

namespace wa::clienttest {

client::ClientOptions options_for(const simtest::WasimProcess& w) {
  client::ClientOptions o;
  o.url = "ws://127.0.0.1:" + std::to_string(w.ws_port()) + "/ws/chat";
  o.trusted_root = crypto::key32_from_hex(w.root_key_hex(), "wasim root key");
  o.handshake_timeout = 5s;
  o.connect_timeout = 5s;
  o.iq_timeout = 5s;
  o.backoff_initial = 50ms;
  o.backoff_max = 400ms;
  return o;
}

simtest::HttpResponse http_json(int port, const std::string& method, const std::string& target, const std::string& body) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    throw std::runtime_error("connect to wasim admin failed");
  }
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!body.empty()) req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  std::size_t off = 0;
  while (off < req.size()) {
    ssize_t n = ::send(fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n <= 0) {
      ::close(fd);
      throw std::runtime_error("send to wasim admin failed");
    }
    off += static_cast<std::size_t>(n);
  }
  std::string resp;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      ::close(fd);
      throw std::runtime_error("wasim admin answer timed out");
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    resp.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  simtest::HttpResponse r;
  if (resp.rfind("HTTP/1.", 0) != 0 || resp.size() < 12) throw std::runtime_error("not an HTTP response");
  r.status = std::stoi(resp.substr(9, 3));
  auto b = resp.find("\r\n\r\n");
  if (b != std::string::npos) r.body = resp.substr(b + 4);
  return r;
}

int wasim_connections(const simtest::WasimProcess& w) {
  auto r = simtest::http_request(w.admin_port(), "GET", "/admin/connections");
  int n = 0;
  for (std::size_t p = r.body.find("\"opened_ms\""); p != std::string::npos; p = r.body.find("\"opened_ms\"", p + 1)) ++n;
  return n;
}

int wasim_open_connections(const simtest::WasimProcess& w) {
  auto r = simtest::http_request(w.admin_port(), "GET", "/admin/connections");
  // "open" is the last field of the object.
  auto k = r.body.rfind("\"open\":");
  if (k == std::string::npos) throw std::runtime_error("no open count in " + r.body);
  return std::stoi(r.body.substr(k + 7));
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
}

}  // namespace wa::clienttest
