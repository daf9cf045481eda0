// A webhook receiver on 127.0.0.1 that serves every request on a thread of its own and can hold
// the answers: it sees how many deliveries are in flight at once (now and at most), and records
// each request with its arrival time. Holding: until release(), or never for the first `hang_first`
// requests (a receiver that hangs: the sender's deadline ends those).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace wa::test {

struct HttpRequest {
  std::map<std::string, std::string> headers;
  std::string body;
  std::chrono::steady_clock::time_point arrived;
};

// Reads one HTTP/1.x request (its head and a Content-Length body) from a connected socket, waiting
// at most `timeout` for each read; false when no complete head arrived.
bool read_http_request(int fd, std::chrono::seconds timeout, HttpRequest& out);

class HoldingReceiver {
 public:
  struct Options {
    int status = 200;
    bool hold = false;       // answer only after release()
    std::size_t hang_first = 0;  // the first N requests are never answered
  };
  using Request = HttpRequest;

  explicit HoldingReceiver(Options options);
  ~HoldingReceiver();
  HoldingReceiver(const HoldingReceiver&) = delete;
  HoldingReceiver& operator=(const HoldingReceiver&) = delete;

  std::string url() const;
  void release();  // answers the held requests and every later one at once
  std::vector<Request> requests() const;
  int in_flight() const;      // requests read and not answered yet
  int max_in_flight() const;  // the most at once so far

 private:
  void accept_loop();
  void serve(int fd);

  Options opt_;
  int fd_ = -1;
  int port_ = 0;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;  // under mu_
  bool stop_ = false;      // under mu_
  int in_flight_ = 0, max_in_flight_ = 0;
  std::vector<Request> requests_;
  std::vector<std::thread> handlers_;  // under mu_
  std::thread acceptor_;
};

}  // namespace wa::test
