#include "app/probe_listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <list>
#include <stdexcept>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "common/log.h"

namespace wa::app {
namespace {

using Clock = std::chrono::steady_clock;

// `host` (an IPv6 literal when `v6`, else IPv4) and `port` as a socket address; false when `host`
// is not such a literal.
bool ip_literal_address(const std::string& host, int port, bool v6, sockaddr_storage& out, socklen_t& len) {
  const auto net_port = htons(static_cast<std::uint16_t>(port));
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&out);
    a->sin6_family = AF_INET6;
    a->sin6_port = net_port;
    len = sizeof *a;
    return ::inet_pton(AF_INET6, host.c_str(), &a->sin6_addr) == 1;
  }
  auto* a = reinterpret_cast<sockaddr_in*>(&out);
  a->sin_family = AF_INET;
  a->sin_port = net_port;
  len = sizeof *a;
  return ::inet_pton(AF_INET, host.c_str(), &a->sin_addr) == 1;
}

// One owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

struct Client {
  Fd fd;
  Clock::time_point deadline;
  std::string in;
  std::string out;
  std::size_t sent = 0;
  bool answering = false;  // the request was read; `out` is being written
};

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "";
  }
}

std::string render(const std::string& method, const HttpResponse& r) {
  std::string s = fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n"
      "X-Content-Type-Options: nosniff\r\n{}Connection: close\r\n\r\n",
      r.status, reason(r.status), r.content_type, r.body.size(), r.headers);
  if (method != "HEAD") s += r.body;
  return s;
}

}  // namespace

struct ProbeListener::Impl {
  ProbeHandler handler;
  ProbeListenerOptions options;
  std::string address;
  Fd listen_fd;
  Fd wake_read, wake_write;
  int port = 0;
  std::list<Client> clients;  // accept order: the front is the oldest
  std::thread thread;

  void run();
  void accept_all();
  void on_readable(Client& c);
  void on_writable(Client& c);
  void answer(Client& c, const std::string& method, const HttpResponse& r);
};

void ProbeListener::Impl::answer(Client& c, const std::string& method, const HttpResponse& r) {
  c.out = render(method, r);
  c.sent = 0;
  c.answering = true;
  c.deadline = Clock::now() + options.write_timeout;
  ::shutdown(c.fd.get(), SHUT_RD);
}

void ProbeListener::Impl::accept_all() {
  for (;;) {
    const int fd = ::accept4(listen_fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      // EMFILE and the like: leave the rest in the backlog; the oldest clients time out soon.
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        wa::log::warn("probe_accept_failed").kv("error", std::strerror(errno));
      return;
    }
    if (clients.size() >= options.max_connections) {
      // The oldest socket is the likeliest to be a held one; a real probe finishes in milliseconds.
      clients.pop_front();
    }
    Client c;
    c.fd = Fd(fd);
    c.deadline = Clock::now() + options.request_timeout;
    clients.push_back(std::move(c));
  }
}

void ProbeListener::Impl::on_readable(Client& c) {
  char buf[2048];
  for (;;) {
    const ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, 0);
    if (n == 0) {
      c.fd.reset();  // the client went away before finishing its request
      return;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      c.fd.reset();
      return;
    }
    c.in.append(buf, static_cast<std::size_t>(n));
    if (c.in.size() > options.max_request_bytes) {
      // Drain what already arrived: closing with unread bytes would reset the connection and
      // the client might lose the answer.
      while (::recv(c.fd.get(), buf, sizeof buf, 0) > 0) {
      }
      answer(c, "GET", HttpResponse::json_error(431, "request line and headers too large", "request_too_large"));
      return;
    }
    if (c.in.find("\r\n\r\n") != std::string::npos) break;
  }
  const auto end = c.in.find("\r\n\r\n");
  if (end == std::string::npos) return;  // wait for more (until the deadline)
  // Request line: METHOD SP TARGET SP HTTP/1.x
  const auto eol = c.in.find("\r\n");
  const std::string_view line(c.in.data(), eol);
  const auto sp1 = line.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || line.substr(sp2 + 1, 7) != "HTTP/1.") {
    answer(c, "GET", HttpResponse::json_error(400, "malformed request line", "bad_request"));
    return;
  }
  const std::string method(line.substr(0, sp1));
  std::string target(line.substr(sp1 + 1, sp2 - sp1 - 1));
  if (const auto q = target.find('?'); q != std::string::npos) target.resize(q);
  HttpResponse r;
  try {
    r = handler(method, target);
  } catch (const std::exception& e) {
    wa::log::error("probe_handler_failed").kv("path", target).kv("error", e.what());
    r = HttpResponse::json_error(500, "internal error", "internal");
  }
  answer(c, method, r);
}

void ProbeListener::Impl::on_writable(Client& c) {
  while (c.sent < c.out.size()) {
    const ssize_t n = ::send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR) continue;
      c.fd.reset();
      return;
    }
    c.sent += static_cast<std::size_t>(n);
  }
  c.fd.reset();  // all sent: Connection: close
}

void ProbeListener::Impl::run() {
  std::vector<pollfd> fds;
  std::vector<Client*> owners;
  for (;;) {
    fds.clear();
    owners.clear();
    fds.push_back({wake_read.get(), POLLIN, 0});
    fds.push_back({listen_fd.get(), POLLIN, 0});
    auto next = Clock::now() + std::chrono::seconds(1);
    for (auto& c : clients) {
      fds.push_back({c.fd.get(), static_cast<short>(c.answering ? POLLOUT : POLLIN), 0});
      owners.push_back(&c);
      next = std::min(next, c.deadline);
    }
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now()).count();
    const int n = ::poll(fds.data(), fds.size(), static_cast<int>(std::max<std::int64_t>(0, wait) + 1));
    if (n < 0 && errno != EINTR) {
      wa::log::error("probe_poll_failed").kv("error", std::strerror(errno));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    if (n > 0 && (fds[0].revents & POLLIN) != 0) return;  // stop
    for (std::size_t i = 2; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      Client& c = *owners[i - 2];
      if (c.answering)
        on_writable(c);
      else
        on_readable(c);
    }
    const auto now = Clock::now();
    clients.remove_if([&](const Client& c) { return c.fd.get() < 0 || c.deadline <= now; });
    // Accept last: an eviction must not pull a client out from under the loop above.
    if (n > 0 && (fds[1].revents & POLLIN) != 0) accept_all();
  }
}

ProbeListener::ProbeListener(const std::string& host, int port, ProbeHandler handler, ProbeListenerOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (port < 0 || port > 65535) throw std::runtime_error(fmt::format("probe port {} is outside 0..65535", port));
  if (!handler) throw std::invalid_argument("probe listener needs a handler");
  impl_->handler = std::move(handler);
  impl_->options = options;
  impl_->options.max_connections = std::max<std::size_t>(1, options.max_connections);
  const bool v6 = host.find(':') != std::string::npos;
  impl_->address = v6 ? fmt::format("[{}]:{}", host, port) : fmt::format("{}:{}", host, port);
  const auto fail = [&](const char* what) {
    return std::runtime_error(fmt::format("cannot serve probes on {}: {}: {}", impl_->address, what, std::strerror(errno)));
  };
  Fd fd(::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) throw fail("socket");
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  if (!ip_literal_address(host, port, v6, addr, addr_len))
    throw std::runtime_error(
        fmt::format("cannot serve probes on {}: not an {} address", impl_->address, v6 ? "IPv6" : "IPv4"));
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), addr_len) != 0) throw fail("bind");
  if (::listen(fd.get(), 128) != 0) throw fail("listen");
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len) != 0) throw fail("getsockname");
  impl_->port = v6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                   : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  impl_->listen_fd = std::move(fd);
  int p[2];
  if (::pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) throw fail("pipe");
  impl_->wake_read = Fd(p[0]);
  impl_->wake_write = Fd(p[1]);
  impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
  wa::log::info("probe_listening").kv("address", impl_->address).kv("port", impl_->port);
}

ProbeListener::~ProbeListener() {
  if (!impl_ || !impl_->thread.joinable()) return;
  const char b = 1;
  while (::write(impl_->wake_write.get(), &b, 1) < 0 && errno == EINTR) {
  }
  impl_->thread.join();
}

int ProbeListener::port() const { return impl_->port; }

}  // namespace wa::app
