// Server notices and the FATAL a server sends an idle session before closing it reach the JSON
// log (event postgres_notice), not stderr as raw libpq text. Needs WACONN_TEST_DATABASE_URL.
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "store/pg.h"

namespace {

// Redirects this process's stderr (fd 2) into a file for the lifetime of the object.
class CaptureStderr {
 public:
  CaptureStderr() : path_(fmt::format("/tmp/waconn-notice-test-{}.err", getpid())) {
    saved_ = dup(2);
    const int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    dup2(fd, 2);
    close(fd);
  }
  ~CaptureStderr() {
    restore();
    std::remove(path_.c_str());
  }
  std::string text() {
    restore();
    std::ifstream f(path_);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    dup2(saved_, 2);
    close(saved_);
    saved_ = -1;
  }
  std::string path_;
  int saved_ = -1;
};

}  // namespace

TEST_CASE("libpq notices and an idle session's FATAL go to the JSON log, not raw stderr", "[pg][log]") {
  const char* url = std::getenv("WACONN_TEST_DATABASE_URL");
  if (url == nullptr || *url == '\0')
    FAIL("WACONN_TEST_DATABASE_URL is not set (scripts/test.sh starts a cluster)");
  std::string err;
  {
    CaptureStderr cap;
    auto conn = wa::pg::Connection::open(url, "notice test");
    conn.exec_simple("raise a notice", "DO $$ BEGIN RAISE NOTICE 'drill notice %', 42; END $$");
    const auto pid = conn.exec("backend pid", "SELECT pg_backend_pid()").i64(0, 0);
    auto admin = wa::pg::Connection::open(url, "notice test admin");
    admin.exec("terminate", "SELECT pg_terminate_backend($1::int)", {std::to_string(pid)});
    // The idle session reads the server's FATAL the way an idle lock session or a LISTEN loop
    // does: input consumed and parsed outside any query, where libpq treats it as a notice.
    for (int i = 0; i < 200 && PQstatus(conn.raw()) == CONNECTION_OK; ++i) {
      PQconsumeInput(conn.raw());
      PQisBusy(conn.raw());
      usleep(10000);
    }
    err = cap.text();
  }
  INFO(err);
  CHECK(
      err.find(
          R"("event":"postgres_notice","severity":"NOTICE","sqlstate":"00000","message":"drill notice 42")") !=
      std::string::npos);
  CHECK(err.find(R"("event":"postgres_notice","severity":"FATAL","sqlstate":"57P01")") != std::string::npos);
  // Nothing raw: every line is a JSON object.
  std::istringstream lines(err);
  for (std::string line; std::getline(lines, line);) {
    INFO(line);
    CHECK(line.rfind("{", 0) == 0);
  }
}
