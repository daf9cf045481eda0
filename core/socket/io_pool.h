// One io_context for every connection of the process, run by a small, fixed pool of threads
// (default: one per core). Connections keep their state on strands of it, so threads do not grow
// with connections. A handler that blocks (a store call) holds one pool thread for its duration;
// the others keep serving.
#pragma once

#include <asio.hpp>

#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/socket/websocket_client.h"

namespace wa::socket {

class IoPool {
 public:
  // `threads` 0: std::thread::hardware_concurrency() (at least 1). `name` shows in logs.
  explicit IoPool(std::size_t threads = 0, std::string name = "io");
  ~IoPool();  // stops the io_context and joins every thread; pending handlers are destroyed
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  // Stops the loop and joins the threads (idempotent): a handler running now finishes first;
  // queued ones never run. For an owner whose handlers use objects that die before the pool.
  void shutdown();

  asio::io_context& context() { return io_; }
  Strand make_strand() { return asio::make_strand(io_); }
  std::size_t size() const { return threads_.size(); }
  // True on one of this process's pool threads (any pool): a caller there must not wait for
  // work that needs a pool thread.
  static bool on_pool_thread();

 private:
  void run(std::size_t index);
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::string name_;
  std::vector<std::thread> threads_;
  std::mutex mu_;  // shutdown() from two threads
};

}  // namespace wa::socket
