#include "http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>

namespace wa::test {
namespace {

struct Fd {
  int fd;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

// A "Transfer-Encoding: chunked" body (Prometheus' API answers so once its reply outgrows its write
// buffer) decoded; nullopt unless it is complete, so a stream cut short is returned as it came.
std::optional<std::string> dechunk(const std::string& in) {
  std::string out;
  std::size_t pos = 0;
  for (;;) {
    const auto eol = in.find("\r\n", pos);
    if (eol == std::string::npos) return std::nullopt;
    std::size_t size = 0;
    try {
      size = std::stoul(in.substr(pos, eol - pos), nullptr, 16);
    } catch (const std::exception&) {
      return std::nullopt;
    }
    pos = eol + 2;
    if (size == 0) return out;
    if (in.size() < pos + size + 2) return std::nullopt;
    out.append(in, pos, size);
    pos += size + 2;
  }
}

}  // namespace

HttpResult http_raw(int port, const std::string& raw) {
  Fd s(::socket(AF_INET, SOCK_STREAM, 0));
  if (s.fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  timeval tv{10, 0};  // a hung server fails the test instead of hanging it
  ::setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(s.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(s.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
  std::size_t off = 0;
  while (off < raw.size()) {
    const ssize_t n = ::send(s.fd, raw.data() + off, raw.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may close early (e.g. 413); still read its answer
    off += static_cast<std::size_t>(n);
  }
  std::string in;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::recv(s.fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    in.append(buf, static_cast<std::size_t>(n));
  }
  HttpResult r;
  const auto head_end = in.find("\r\n\r\n");
  if (in.rfind("HTTP/1.", 0) != 0 || head_end == std::string::npos)
    throw std::runtime_error("unparseable HTTP response: '" + in.substr(0, 200) + "'");
  r.status = std::stoi(in.substr(9, 3));
  std::size_t pos = in.find("\r\n") + 2;
  while (pos < head_end) {
    const auto eol = in.find("\r\n", pos);
    const std::string line = in.substr(pos, eol - pos);
    pos = eol + 2;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    r.headers[name] = value;
  }
  r.body = in.substr(head_end + 4);
  if (const auto te = r.headers.find("transfer-encoding");
      te != r.headers.end() && te->second.find("chunked") != std::string::npos)
    if (auto plain = dechunk(r.body)) r.body = std::move(*plain);
  return r;
}

HttpResult http_request(int port, const std::string& method, const std::string& path, const std::string& body,
                        const std::string& extra_headers) {
  std::string raw =
      method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + extra_headers;
  if (!body.empty() || method == "POST" || method == "PUT")
    raw += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  raw += "\r\n" + body;
  return http_raw(port, raw);
}

}  // namespace wa::test
