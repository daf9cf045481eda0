// A TCP relay between the pods and wasim that timestamps every chunk a pod sends, so a test can
// say exactly which bytes reached wasim on which connection and when ("zero bytes from the stale
// connection after the new login"). One thread, poll() over every socket.
#pragma once

#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace wa::e2e {

class ByteProxy {
 public:
  struct Chunk {
    std::int64_t at_ms;  // Unix ms when it was forwarded to wasim
    std::size_t bytes;
  };
  struct Conn {
    std::int64_t opened_ms = 0;
    std::int64_t closed_ms = 0;  // 0 = open
    std::vector<Chunk> to_server;
  };

  explicit ByteProxy(int target_port);
  ~ByteProxy();
  ByteProxy(const ByteProxy&) = delete;
  ByteProxy& operator=(const ByteProxy&) = delete;
  int port() const { return port_; }
  std::vector<Conn> connections() const;

 private:
  void run();
  int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  int wake_[2]{-1, -1};
  mutable std::mutex mu_;
  std::vector<Conn> conns_;
  std::thread thread_;
};

}  // namespace wa::e2e
