#include "tests/store/test_db.h"

#include <atomic>
#include <cstdlib>
#include <random>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include "store/migrator.h"

namespace wa::test {

std::string server_url() {
  const char* u = std::getenv("WACONN_TEST_DATABASE_URL");
  if (u == nullptr || *u == '\0')
    FAIL("WACONN_TEST_DATABASE_URL is not set: these tests need PostgreSQL (scripts/test.sh starts one; or "
         "bash scripts/pg-cluster.sh start DIR)");
  return u;
}

std::string with_dbname(const std::string& url, const std::string& db) {
  const auto scheme = url.find("://");
  if (url.rfind("postgres", 0) != 0 || scheme == std::string::npos) return url + " dbname=" + db;
  const auto slash = url.find('/', scheme + 3);
  const auto query = url.find('?', scheme + 3);
  if (slash == std::string::npos || (query != std::string::npos && slash > query)) {
    // No path: insert one before the query string (or at the end).
    return query == std::string::npos ? url + "/" + db : url.substr(0, query) + "/" + db + url.substr(query);
  }
  const auto end = query == std::string::npos ? url.size() : query;
  return url.substr(0, slash + 1) + db + url.substr(end);
}

TestDatabase::TestDatabase(bool migrate) : admin_url_(server_url()) {
  static std::atomic<int> counter{0};
  std::random_device rd;
  name_ = fmt::format("waconn_store_{}_{}_{:08x}", getpid(), counter++, rd());
  url_ = with_dbname(admin_url_, name_);
  auto admin = pg::Connection::open(admin_url_, "test admin");
  // CREATE DATABASE takes no parameters; the name is ours and made of [a-z0-9_] only.
  admin.exec_simple("create test database", fmt::format("CREATE DATABASE {}", name_).c_str());
  if (migrate) {
    auto c = connect("test migrate");
    store::migrate(c);
  }
}

TestDatabase::~TestDatabase() {
  try {
    auto admin = pg::Connection::open(admin_url_, "test admin");
    admin.exec_simple("drop test database", fmt::format("DROP DATABASE IF EXISTS {} WITH (FORCE)", name_).c_str());
  } catch (const std::exception&) {
    // Best effort: a leftover database does not affect other tests (names are unique).
  }
}

pg::Connection TestDatabase::connect(const char* purpose) const { return pg::Connection::open(url_, purpose); }

}  // namespace wa::test
