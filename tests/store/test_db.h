// A fresh, uniquely named database per test case on the server of WACONN_TEST_DATABASE_URL,
// dropped afterwards. Fails the test (never skips) when the variable is missing.
#pragma once

#include <string>

#include "store/pg.h"

namespace wa::test {

class TestDatabase {
 public:
  // `migrate`: apply the embedded migrations right away.
  explicit TestDatabase(bool migrate = true);
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  const std::string& name() const { return name_; }
  // A URL/conninfo naming this database (for child processes).
  const std::string& url() const { return url_; }
  pg::Connection connect(const char* purpose = "test") const;

 private:
  std::string admin_url_;
  std::string name_;
  std::string url_;
};

// The URL of the test server; FAILs the running test when WACONN_TEST_DATABASE_URL is unset.
std::string server_url();
// `url` pointed at database `db` (URL or key=value conninfo).
std::string with_dbname(const std::string& url, const std::string& db);

}  // namespace wa::test
