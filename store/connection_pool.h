// A few reusable connections for request handlers (civetweb runs them on up to 4 threads). A
// connection that broke is dropped and the next call opens a new one; opening is bounded by a
// connect timeout and statements by a statement timeout, so a dead database answers quickly.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "store/pg.h"

namespace wa::store {

class ConnectionPool {
 public:
  ConnectionPool(std::string url, std::string application_name, std::size_t max_idle = 2);

  // Runs fn(pg::Connection&) on a pooled connection and returns its result. Throws what fn or
  // the connect throws.
  template <typename Fn>
  auto with(Fn&& fn) {
    auto c = acquire();
    try {
      if constexpr (std::is_void_v<decltype(fn(c))>) {
        fn(c);
        release(std::move(c));
      } else {
        auto r = fn(c);
        release(std::move(c));
        return r;
      }
    } catch (const pg::Error& e) {
      if (!e.connection_lost()) release(std::move(c));
      throw;
    }
  }

 private:
  pg::Connection acquire();
  void release(pg::Connection c);

  std::string url_;
  std::string application_name_;
  std::size_t max_idle_;
  std::mutex mu_;
  std::vector<pg::Connection> idle_;
};

}  // namespace wa::store
