#include "store/connection_pool.h"

#include <poll.h>

#include <fmt/format.h>

namespace wa::store {

using Clock = std::chrono::steady_clock;

namespace {

// An idle connection the server closed (restart, pg_terminate_backend, idle_session_timeout) has
// its FATAL message and EOF waiting on the socket. A pooled connection LISTENs to nothing, so
// anything readable while idle means it is going: dropped now, so the caller gets a working
// connection instead of a first statement that fails.
bool still_open(const pg::Connection& c) {
  pollfd p{c.socket(), POLLIN, 0};
  return ::poll(&p, 1, 0) == 0;
}

}  // namespace

PooledConnection::~PooledConnection() {
  if (pool_) pool_->put(std::move(c_));
}

ConnectionPool::ConnectionPool(PoolOptions options) : opt_(std::move(options)) {
  if (opt_.size == 0) opt_.size = 1;
}

ConnectionPool::ConnectionPool(std::string url, std::string application_name, std::size_t size)
    : ConnectionPool(PoolOptions{
          .url = std::move(url),
          .application_name = std::move(application_name),
          .size = size,
          // Bounded: HTTP requests time out after 2 s, so a dead database must fail faster than
          // that (libpq's minimum connect_timeout is 2 s; the statement timeout bounds a hung server).
          .connect_timeout_s = 2,
          .session_options = "-c statement_timeout=1500 -c lock_timeout=1000 -c idle_in_transaction_session_timeout=5000",
          .acquire_timeout = std::chrono::milliseconds(2000),
          .idle_timeout = std::chrono::milliseconds(0),
          .on_open = {},
      }) {}

pg::Connection ConnectionPool::open_one() {
  std::vector<std::pair<std::string, std::string>> params{{"application_name", opt_.application_name},
                                                          {"connect_timeout", std::to_string(opt_.connect_timeout_s)},
                                                          {"keepalives", "1"},
                                                          {"keepalives_idle", "1"},
                                                          {"keepalives_interval", "1"},
                                                          {"keepalives_count", "3"}};
  if (!opt_.session_options.empty()) params.emplace_back("options", opt_.session_options);
  auto c = pg::Connection::open(opt_.url, opt_.application_name, params);
  if (opt_.on_open) opt_.on_open(c);
  return c;
}

bool ConnectionPool::current_locked(const pg::Connection& c) const {
  const auto it = opened_in_.find(c.raw());
  return it != opened_in_.end() && it->second == generation_;
}

void ConnectionPool::forget_locked(const pg::Connection& c) {
  opened_in_.erase(c.raw());
  --open_;
}

void ConnectionPool::expire_idle_locked(std::vector<pg::Connection>& doomed) {
  if (opt_.idle_timeout.count() <= 0) return;
  const auto cutoff = Clock::now() - opt_.idle_timeout;
  for (auto it = idle_.begin(); it != idle_.end();) {
    if (it->since < cutoff) {
      forget_locked(it->conn);
      doomed.push_back(std::move(it->conn));
      it = idle_.erase(it);
    } else {
      ++it;
    }
  }
}

pg::Connection ConnectionPool::take() {
  std::vector<pg::Connection> doomed;  // closed outside the lock
  std::unique_lock lk(mu_);
  const auto deadline = Clock::now() + opt_.acquire_timeout;
  for (;;) {
    expire_idle_locked(doomed);
    while (!idle_.empty()) {
      // Most recently used first: the others age out under idle_timeout.
      auto c = std::move(idle_.back().conn);
      idle_.pop_back();
      if (c.ok() && current_locked(c) && still_open(c)) return c;
      forget_locked(c);
      doomed.push_back(std::move(c));
    }
    if (open_ < opt_.size) {
      ++open_;
      const auto gen = generation_;
      lk.unlock();
      doomed.clear();
      try {
        auto c = open_one();
        lk.lock();
        opened_in_[c.raw()] = gen;
        return c;
      } catch (...) {
        lk.lock();
        --open_;
        freed_.notify_one();
        throw;
      }
    }
    if (freed_.wait_until(lk, deadline) == std::cv_status::timeout && idle_.empty() && open_ >= opt_.size)
      throw pg::Error(fmt::format("{}: all {} pooled connections stayed in use for {} ms (--store-pool-size)",
                                  opt_.application_name, opt_.size, opt_.acquire_timeout.count()),
                      "");
  }
}

void ConnectionPool::put(pg::Connection c) {
  // A connection left inside a transaction (it broke between BEGIN and the ROLLBACK) or retired as
  // read-only is not lent again.
  bool reusable = c.ok() && PQtransactionStatus(c.raw()) == PQTRANS_IDLE;
  if (reusable) c.set_tenant(std::nullopt);
  std::vector<pg::Connection> doomed;  // closed outside the lock
  {
    std::lock_guard lk(mu_);
    // Retired as read-only, or broken (a server restart, a terminated backend): the others opened
    // until now are suspect too and are not lent again.
    if ((c.retired() || !c.ok()) && current_locked(c)) ++generation_;
    reusable = reusable && current_locked(c);
    if (reusable) {
      idle_.push_back({std::move(c), Clock::now()});
    } else {
      forget_locked(c);
      doomed.push_back(std::move(c));
    }
  }
  freed_.notify_one();
}

PooledConnection ConnectionPool::acquire() { return PooledConnection(*this, take()); }

void ConnectionPool::lend(pg::Connection& slot) { slot = take(); }

void ConnectionPool::give_back(pg::Connection& slot) {
  pg::Connection c = std::move(slot);
  slot = pg::Connection();
  put(std::move(c));
}

std::size_t ConnectionPool::open_connections() const {
  std::lock_guard lk(mu_);
  return open_;
}

std::size_t ConnectionPool::in_use() const {
  std::lock_guard lk(mu_);
  return open_ - idle_.size();
}

void ConnectionPool::close_idle() {
  std::vector<Idle> doomed;
  {
    std::lock_guard lk(mu_);
    for (const auto& i : idle_) forget_locked(i.conn);
    doomed.swap(idle_);
  }
  freed_.notify_all();
}

}  // namespace wa::store
