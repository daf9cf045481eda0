#include "byte_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>

namespace wa::e2e {
namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int connect_local(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

ByteProxy::ByteProxy(int target_port) : target_port_(target_port) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(listen_fd_, 16) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    throw std::runtime_error("byte proxy: cannot listen");
  port_ = ntohs(a.sin_port);
  if (pipe2(wake_, O_CLOEXEC) != 0) throw std::runtime_error("byte proxy: pipe");
  thread_ = std::thread([this] { run(); });
}

ByteProxy::~ByteProxy() {
  const char b = 1;
  [[maybe_unused]] auto n = write(wake_[1], &b, 1);
  thread_.join();
  close(listen_fd_);
  close(wake_[0]);
  close(wake_[1]);
}

std::vector<ByteProxy::Conn> ByteProxy::connections() const {
  std::lock_guard lk(mu_);
  return conns_;
}

void ByteProxy::run() {
  struct Pair {
    int client;
    int server;
    std::size_t index;
  };
  std::vector<Pair> pairs;
  char buf[65536];
  for (;;) {
    std::vector<pollfd> fds{{wake_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    for (auto& p : pairs) {
      fds.push_back({p.client, POLLIN, 0});
      fds.push_back({p.server, POLLIN, 0});
    }
    ::poll(fds.data(), fds.size(), 1000);
    if (fds[0].revents) break;
    std::vector<bool> dead(pairs.size(), false);
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      auto& p = pairs[i];
      for (int dir = 0; dir < 2 && !dead[i]; ++dir) {
        const auto& f = fds[2 + i * 2 + static_cast<std::size_t>(dir)];
        if (f.revents == 0) continue;
        const int from = dir == 0 ? p.client : p.server;
        const int to = dir == 0 ? p.server : p.client;
        const auto n = read(from, buf, sizeof buf);
        if (n <= 0) {
          dead[i] = true;
          break;
        }
        if (dir == 0) {
          std::lock_guard lk(mu_);
          conns_[p.index].to_server.push_back({now_ms(), static_cast<std::size_t>(n)});
        }
        std::size_t off = 0;
        while (off < static_cast<std::size_t>(n)) {
          const auto w = write(to, buf + off, static_cast<std::size_t>(n) - off);
          if (w <= 0) {
            dead[i] = true;
            break;
          }
          off += static_cast<std::size_t>(w);
        }
      }
    }
    for (std::size_t i = pairs.size(); i-- > 0;) {
      if (!dead[i]) continue;
      close(pairs[i].client);
      close(pairs[i].server);
      {
        std::lock_guard lk(mu_);
        conns_[pairs[i].index].closed_ms = now_ms();
      }
      pairs.erase(pairs.begin() + static_cast<std::ptrdiff_t>(i));
    }
    if (fds[1].revents) {
      const int c = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) {
        const int s = connect_local(target_port_);
        if (s < 0) {
          close(c);
        } else {
          std::lock_guard lk(mu_);
          conns_.push_back({now_ms(), 0, {}});
          pairs.push_back({c, s, conns_.size() - 1});
        }
      }
    }
  }
  for (auto& p : pairs) {
    close(p.client);
    close(p.server);
  }
}

}  // namespace wa::e2e
