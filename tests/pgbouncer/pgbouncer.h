// A PgBouncer child process in front of a test database, on a free loopback port, with its own
// config and log in a temporary directory (run as the 'postgres' user when the test runs as root:
// PgBouncer refuses root). auth_type=any: the test cluster trusts local connections anyway.
#pragma once

#include <sys/types.h>

#include <string>

#include "store/pg.h"

namespace wa::pgbtest {

class PgBouncer {
 public:
  // `upstream_url`: the test database (its host must be reachable over TCP on 127.0.0.1);
  // `pool_mode`: "transaction" or "session".
  PgBouncer(const std::string& upstream_url, const std::string& pool_mode, int pool_size = 10);
  ~PgBouncer();
  PgBouncer(const PgBouncer&) = delete;
  PgBouncer& operator=(const PgBouncer&) = delete;

  int port() const { return port_; }
  // The upstream database through PgBouncer (key=value conninfo).
  std::string url() const;
  // Transactions PgBouncer passed to the server for the database (SHOW STATS total_xact_count).
  std::int64_t transactions();
  // Clients connected to PgBouncer with this application_name (SHOW CLIENTS).
  std::int64_t clients(const std::string& application_name);
  std::string log() const;

 private:
  pg::Connection admin();
  std::string dir_;
  std::string dbname_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// The value of `key` in a conninfo/URL ("" when absent).
std::string conninfo_value(const std::string& url, const std::string& key);

}  // namespace wa::pgbtest
