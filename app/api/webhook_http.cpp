#include "app/api/webhook_http.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>

#include <fmt/format.h>

namespace wa::app::api {
namespace {

using Clock = std::chrono::steady_clock;

struct FdCloser {
  int fd = -1;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};
struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};

int ms_left(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

bool wait_fd(int fd, short events, Clock::time_point deadline) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int n = ::poll(&p, 1, ms_left(deadline));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

// Connects to the first address of host:port that answers before the deadline.
int connect_to(const WebhookUrl& u, Clock::time_point deadline, std::string& error) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const auto port = std::to_string(u.port);
  if (const int rc = ::getaddrinfo(u.host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    error = fmt::format("cannot resolve {}: {}", u.host, gai_strerror(rc));
    return -1;
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(res, freeaddrinfo);
  for (auto* a = res; a != nullptr; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) return fd;
    if (errno == EINPROGRESS && wait_fd(fd, POLLOUT, deadline)) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err == 0) return fd;
      error = fmt::format("cannot connect to {}:{}: {}", u.host, u.port, std::strerror(err));
    } else {
      error = fmt::format("cannot connect to {}:{}: {}", u.host, u.port,
                          errno == EINPROGRESS ? "timed out" : std::strerror(errno));
    }
    ::close(fd);
    if (ms_left(deadline) == 0) break;
  }
  if (error.empty()) error = fmt::format("cannot connect to {}:{}", u.host, u.port);
  return -1;
}

// Byte I/O over a plain socket or TLS, each call bounded by the deadline.
struct Channel {
  int fd;
  SSL* ssl = nullptr;
  Clock::time_point deadline;

  bool write_all(std::string_view data, std::string& error) {
    std::size_t off = 0;
    while (off < data.size()) {
      if (ssl != nullptr) {
        const int n = SSL_write(ssl, data.data() + off, static_cast<int>(data.size() - off));
        if (n > 0) {
          off += static_cast<std::size_t>(n);
          continue;
        }
        const int e = SSL_get_error(ssl, n);
        if ((e == SSL_ERROR_WANT_WRITE && wait_fd(fd, POLLOUT, deadline)) ||
            (e == SSL_ERROR_WANT_READ && wait_fd(fd, POLLIN, deadline)))
          continue;
      } else {
        const ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n > 0) {
          off += static_cast<std::size_t>(n);
          continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR) && wait_fd(fd, POLLOUT, deadline)) continue;
      }
      error = ms_left(deadline) == 0 ? "timed out sending the request" : "connection closed while sending";
      return false;
    }
    return true;
  }

  // >0 bytes, 0 at EOF, -1 on error or timeout.
  int read_some(char* buf, int size) {
    for (;;) {
      if (ssl != nullptr) {
        const int n = SSL_read(ssl, buf, size);
        if (n > 0) return n;
        const int e = SSL_get_error(ssl, n);
        if (e == SSL_ERROR_ZERO_RETURN) return 0;
        if ((e == SSL_ERROR_WANT_READ && wait_fd(fd, POLLIN, deadline)) ||
            (e == SSL_ERROR_WANT_WRITE && wait_fd(fd, POLLOUT, deadline)))
          continue;
        return e == SSL_ERROR_SYSCALL ? 0 : -1;
      }
      const ssize_t n = ::recv(fd, buf, static_cast<std::size_t>(size), 0);
      if (n >= 0) return static_cast<int>(n);
      if ((errno == EAGAIN || errno == EINTR) && wait_fd(fd, POLLIN, deadline)) continue;
      return -1;
    }
  }
};

}  // namespace

std::optional<WebhookUrl> parse_webhook_url(std::string_view url, std::string* why) {
  const auto fail = [&](const char* w) -> std::optional<WebhookUrl> {
    if (why != nullptr) *why = w;
    return std::nullopt;
  };
  WebhookUrl u;
  if (url.rfind("https://", 0) == 0) {
    u.tls = true;
    url.remove_prefix(8);
  } else if (url.rfind("http://", 0) == 0) {
    url.remove_prefix(7);
  } else {
    return fail("url must start with http:// or https://");
  }
  if (url.find('#') != std::string_view::npos) return fail("url must not have a fragment");
  for (char c : url)
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
      return fail("url must be ASCII without spaces or control characters");
  const auto slash = url.find_first_of("/?");
  auto authority = url.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  if (u.target.front() == '?') u.target.insert(u.target.begin(), '/');
  if (authority.find('@') != std::string_view::npos) return fail("url must not carry user information");
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return fail("url has an unclosed IPv6 address");
    u.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return fail("url has junk after the IPv6 address");
      port_text = authority.substr(close + 2);
    }
  } else {
    const auto colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (u.host.empty() || u.host.size() > 253) return fail("url needs a host");
  u.port = u.tls ? 443 : 80;
  if (!port_text.empty()) {
    int p = 0;
    const auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), p);
    if (ec != std::errc() || ptr != port_text.data() + port_text.size() || p < 1 || p > 65535)
      return fail("url port must be 1-65535");
    u.port = p;
  }
  return u;
}

PostResult post_webhook(const WebhookUrl& u, const std::string& headers, std::string_view body,
                        std::chrono::milliseconds timeout) {
  PostResult out;
  const auto deadline = Clock::now() + timeout;
  FdCloser sock{connect_to(u, deadline, out.error)};
  if (sock.fd < 0) return out;
  std::unique_ptr<SSL_CTX, SslCtxFree> ctx;
  std::unique_ptr<SSL, SslFree> ssl;
  Channel ch{sock.fd, nullptr, deadline};
  if (u.tls) {
    ctx.reset(SSL_CTX_new(TLS_client_method()));
    if (!ctx) return {std::nullopt, "cannot create a TLS context", std::nullopt};
    SSL_CTX_set_default_verify_paths(ctx.get());
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    ssl.reset(SSL_new(ctx.get()));
    SSL_set_fd(ssl.get(), sock.fd);
    SSL_set_tlsext_host_name(ssl.get(), u.host.c_str());
    SSL_set1_host(ssl.get(), u.host.c_str());
    for (;;) {
      const int rc = SSL_connect(ssl.get());
      if (rc == 1) break;
      const int e = SSL_get_error(ssl.get(), rc);
      if ((e == SSL_ERROR_WANT_READ && wait_fd(sock.fd, POLLIN, deadline)) ||
          (e == SSL_ERROR_WANT_WRITE && wait_fd(sock.fd, POLLOUT, deadline)))
        continue;
      const long verify = SSL_get_verify_result(ssl.get());
      out.error = verify != X509_V_OK ? fmt::format("TLS: certificate not accepted: {}", X509_verify_cert_error_string(verify))
                                      : ms_left(deadline) == 0 ? "TLS handshake timed out" : "TLS handshake failed";
      return out;
    }
    ch.ssl = ssl.get();
  }
  const bool default_port = u.port == (u.tls ? 443 : 80);
  std::string host = u.host;
  if (host.find(':') != std::string::npos) host = fmt::format("[{}]", u.host);
  std::string req = fmt::format(
      "POST {} HTTP/1.1\r\nHost: {}{}\r\nUser-Agent: waconnector-webhooks\r\nContent-Type: application/json\r\n"
      "Content-Length: {}\r\nConnection: close\r\n{}\r\n",
      u.target, host, default_port ? std::string() : fmt::format(":{}", u.port), body.size(), headers);
  req.append(body);
  if (!ch.write_all(req, out.error)) return out;
  std::string in;
  char buf[4096];
  while (in.size() < 65536) {
    const int n = ch.read_some(buf, sizeof buf);
    if (n < 0) {
      if (in.find("\r\n\r\n") != std::string::npos) break;
      out.error = ms_left(deadline) == 0 ? "timed out waiting for the answer" : "connection failed while reading";
      return out;
    }
    if (n == 0) break;
    in.append(buf, static_cast<std::size_t>(n));
    if (in.find("\r\n\r\n") != std::string::npos) break;  // the status and headers are all we need
  }
  if (in.rfind("HTTP/1.", 0) != 0 || in.size() < 12) {
    out.error = "the answer is not HTTP/1.x";
    return out;
  }
  int status = 0;
  const auto [ptr, ec] = std::from_chars(in.data() + 9, in.data() + 12, status);
  if (ec != std::errc() || ptr != in.data() + 12 || status < 100 || status > 599) {
    out.error = "the answer has no valid status code";
    return out;
  }
  out.status = status;
  // Retry-After in its seconds form (the date form is rare for webhooks; ignored).
  std::string lower = in.substr(0, in.find("\r\n\r\n"));
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (const auto p = lower.find("\r\nretry-after:"); p != std::string::npos) {
    auto v = std::string_view(lower).substr(p + 14);
    v = v.substr(0, v.find("\r\n"));
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    long s = 0;
    const auto [q, e2] = std::from_chars(v.data(), v.data() + v.size(), s);
    if (e2 == std::errc() && q != v.data() && s >= 0) out.retry_after_s = s;
  }
  return out;
}

}  // namespace wa::app::api
