// A blocking Server-Sent Events client for tests: opens GET `target` with the given headers,
// reads the answer's head, then hands out events (comment lines counted apart) until EOF.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace wa::test {

struct SseEvent {
  std::string id;
  std::string event;
  std::string data;
};

class SseClient {
 public:
  SseClient(int port, const std::string& target, const std::string& headers);
  ~SseClient();
  SseClient(const SseClient&) = delete;
  SseClient& operator=(const SseClient&) = delete;

  int status() const { return status_; }
  const std::string& content_type() const { return content_type_; }
  const std::string& head() const { return head_; }
  // The body as far as read (for a non-stream answer: all of it).
  const std::string& body() const { return buf_; }

  // The next event within `timeout`; nullopt on timeout or EOF (eof() tells which).
  std::optional<SseEvent> next(std::chrono::milliseconds timeout);
  bool eof() const { return eof_; }
  int comments() const { return comments_; }
  void close();

 private:
  bool fill(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  int status_ = 0;
  std::string content_type_, head_, buf_;
  bool eof_ = false;
  int comments_ = 0;
};

}  // namespace wa::test
