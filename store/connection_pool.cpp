#include "store/connection_pool.h"

namespace wa::store {

ConnectionPool::ConnectionPool(std::string url, std::string application_name, std::size_t max_idle)
    : url_(std::move(url)), application_name_(std::move(application_name)), max_idle_(max_idle) {}

pg::Connection ConnectionPool::acquire() {
  {
    std::lock_guard lk(mu_);
    while (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      if (c.ok()) return c;
    }
  }
  // Bounded: HTTP requests time out after 2 s, so a dead database must fail faster than that
  // (libpq's minimum connect_timeout is 2 s; the statement timeout bounds a hung server).
  return pg::Connection::open(url_, application_name_,
                              {{"application_name", application_name_},
                               {"connect_timeout", "2"},
                               {"keepalives", "1"},
                               {"keepalives_idle", "1"},
                               {"keepalives_interval", "1"},
                               {"keepalives_count", "3"},
                               {"options", "-c statement_timeout=1500 -c lock_timeout=1000"
                                           " -c idle_in_transaction_session_timeout=5000"}});
}

void ConnectionPool::release(pg::Connection c) {
  if (!c.ok()) return;
  std::lock_guard lk(mu_);
  if (idle_.size() < max_idle_) idle_.push_back(std::move(c));
}

}  // namespace wa::store
