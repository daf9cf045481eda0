// A PostgreSQL cluster of a test's own (scripts/pg-cluster.sh in a directory of the test; a
// restart keeps the port), for tests that stop the server or need a server setting: the database
// fault drills, and pg_stat_statements for the statement counts of issue 10. Plus the shell helpers
// those tests share.
#pragma once

#include <string>
#include <utility>

namespace wa::e2e {

// WACONN_SOURCE_DIR, else the source tree this was built from.
std::string source_dir();
// Runs a shell command; returns its exit status and stdout without trailing newlines (stderr goes
// to the test's stderr).
std::pair<int, std::string> run_shell(const std::string& cmd);

class OwnPostgres {
 public:
  // `tag` names the directory (/tmp/waconn-<tag>-<pid>). `stat_statements`: the server runs with
  // pg_stat_statements preloaded and the extension created in the postgres database.
  explicit OwnPostgres(const std::string& tag, bool stat_statements = false);
  ~OwnPostgres();
  OwnPostgres(const OwnPostgres&) = delete;
  OwnPostgres& operator=(const OwnPostgres&) = delete;
  const std::string& url() const { return url_; }
  void stop();
  void start();

 private:
  std::string script(const std::string& cmd) const;
  std::string dir_;
  std::string url_;
};

}  // namespace wa::e2e
