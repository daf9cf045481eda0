#include "sse_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace wa::test {

SseClient::SseClient(int port, const std::string& target, const std::string& headers) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close();
    throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
  }
  const std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n" + headers + "\r\n";
  if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
    throw std::runtime_error("send failed");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::size_t end;
  while ((end = buf_.find("\r\n\r\n")) == std::string::npos)
    if (!fill(deadline)) throw std::runtime_error("no answer head: '" + buf_ + "'");
  head_ = buf_.substr(0, end);
  buf_.erase(0, end + 4);
  if (head_.rfind("HTTP/1.", 0) != 0) throw std::runtime_error("bad status line: " + head_);
  status_ = std::stoi(head_.substr(9, 3));
  std::string lower = head_;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (const auto p = lower.find("\r\ncontent-type:"); p != std::string::npos) {
    const auto v = p + 15;
    content_type_ = head_.substr(v, head_.find("\r\n", v) - v);
    content_type_.erase(0, content_type_.find_first_not_of(' '));
  }
  if (status_ != 200) {
    while (fill(deadline)) {
    }
  }
}

SseClient::~SseClient() { close(); }

void SseClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool SseClient::fill(std::chrono::steady_clock::time_point deadline) {
  if (fd_ < 0 || eof_) return false;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return false;
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
  char b[4096];
  const ssize_t n = ::recv(fd_, b, sizeof b, 0);
  if (n <= 0) {
    eof_ = true;
    return false;
  }
  buf_.append(b, static_cast<std::size_t>(n));
  return true;
}

std::optional<SseEvent> SseClient::next(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    // One block ends with an empty line; comment-only blocks count as heartbeats.
    while (true) {
      const auto end = buf_.find("\n\n");
      if (end == std::string::npos) break;
      const std::string block = buf_.substr(0, end + 1);
      buf_.erase(0, end + 2);
      SseEvent e;
      bool any = false;
      std::size_t pos = 0;
      while (pos < block.size()) {
        const auto eol = block.find('\n', pos);
        const std::string line = block.substr(pos, eol - pos);
        pos = eol + 1;
        if (!line.empty() && line[0] == ':') {
          ++comments_;
          continue;
        }
        const auto colon = line.find(':');
        const std::string name = line.substr(0, colon);
        std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
        if (!value.empty() && value[0] == ' ') value.erase(0, 1);
        if (name == "id") e.id = value, any = true;
        if (name == "event") e.event = value, any = true;
        if (name == "data") e.data += (e.data.empty() ? "" : "\n") + value, any = true;
      }
      if (any && !e.data.empty()) return e;
    }
    if (!fill(deadline)) return std::nullopt;
  }
}

}  // namespace wa::test
