#include "core/socket/io_pool.h"

#include "common/log.h"

namespace wa::socket {

namespace {
thread_local bool t_on_pool = false;
}

IoPool::IoPool(std::size_t threads, std::string name) : work_(asio::make_work_guard(io_)), name_(std::move(name)) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this, i] { run(i); });
  wa::log::info("io_pool_started").kv("pool", name_).kv("threads", threads);
}

IoPool::~IoPool() { shutdown(); }

void IoPool::shutdown() {
  std::lock_guard lk(mu_);
  work_.reset();
  io_.stop();
  for (auto& t : threads_) {
    if (!t.joinable()) continue;
    if (t.get_id() == std::this_thread::get_id()) t.detach();  // from one of its own handlers
    else t.join();
  }
}

bool IoPool::on_pool_thread() { return t_on_pool; }

void IoPool::run(std::size_t index) {
  t_on_pool = true;
  for (;;) {
    try {
      io_.run();
      return;
    } catch (const std::exception& e) {
      // A handler that throws must cost its own connection, not the pool thread that every
      // other connection shares: log and keep running.
      wa::log::error("io_pool_handler_threw").kv("pool", name_).kv("thread", index).kv("error", e.what());
    }
  }
}

}  // namespace wa::socket
