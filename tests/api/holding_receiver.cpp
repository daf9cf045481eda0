#include "holding_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

namespace wa::test {

bool read_http_request(int fd, std::chrono::seconds timeout, HttpRequest& out) {
  timeval tv{static_cast<time_t>(timeout.count()), 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string in;
  char buf[4096];
  std::size_t need = std::string::npos;
  while (need == std::string::npos || in.size() < need) {
    const auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    in.append(buf, static_cast<std::size_t>(n));
    const auto end = in.find("\r\n\r\n");
    if (end != std::string::npos && need == std::string::npos) {
      const auto cl = in.find("Content-Length: ");
      need = end + 4 + (cl != std::string::npos && cl < end ? std::stoul(in.substr(cl + 16)) : 0);
    }
  }
  out.arrived = std::chrono::steady_clock::now();
  const auto end = in.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  for (std::size_t pos = in.find("\r\n") + 2; pos < end;) {
    const auto eol = in.find("\r\n", pos);
    const auto line = in.substr(pos, eol - pos);
    if (const auto colon = line.find(':'); colon != std::string::npos)
      out.headers[line.substr(0, colon)] = line.substr(colon + 2);
    pos = eol + 2;
  }
  out.body = in.substr(end + 4);
  return true;
}

HoldingReceiver::HoldingReceiver(Options options) : opt_(options) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 128) != 0)
    throw std::runtime_error("holding receiver: cannot listen on 127.0.0.1");
  socklen_t len = sizeof a;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

HoldingReceiver::~HoldingReceiver() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  acceptor_.join();
  std::vector<std::thread> handlers;
  {
    std::lock_guard lk(mu_);
    handlers.swap(handlers_);
  }
  for (auto& t : handlers) t.join();
  ::close(fd_);
}

std::string HoldingReceiver::url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }

void HoldingReceiver::release() {
  {
    std::lock_guard lk(mu_);
    released_ = true;
  }
  cv_.notify_all();
}

std::vector<HoldingReceiver::Request> HoldingReceiver::requests() const {
  std::lock_guard lk(mu_);
  return requests_;
}

int HoldingReceiver::in_flight() const {
  std::lock_guard lk(mu_);
  return in_flight_;
}

int HoldingReceiver::max_in_flight() const {
  std::lock_guard lk(mu_);
  return max_in_flight_;
}

void HoldingReceiver::accept_loop() {
  for (;;) {
    {
      std::lock_guard lk(mu_);
      if (stop_) return;
    }
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    std::lock_guard lk(mu_);
    handlers_.emplace_back([this, c] { serve(c); });
  }
}

void HoldingReceiver::serve(int c) {
  Request r;
  if (!read_http_request(c, std::chrono::seconds(5), r)) {
    ::close(c);
    return;
  }
  std::unique_lock lk(mu_);
  requests_.push_back(std::move(r));
  const bool hang = requests_.size() <= opt_.hang_first;
  in_flight_++;
  max_in_flight_ = std::max(max_in_flight_, in_flight_);
  cv_.wait(lk, [&] { return stop_ || (!hang && (!opt_.hold || released_)); });
  in_flight_--;
  const bool answer = !stop_ || (!hang && (!opt_.hold || released_));
  lk.unlock();
  if (answer) {
    const auto resp =
        "HTTP/1.1 " + std::to_string(opt_.status) + " X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    [[maybe_unused]] auto n = ::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
  }
  ::close(c);
}

}  // namespace wa::test
