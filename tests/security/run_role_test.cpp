// `waconnector run` and row-level security: under a waconnector_app member it reports RLS in force
// and leads its account (the elector's cross-account work goes through the narrow functions); as
// the superuser it refuses to start unless --allow-rls-bypass is given.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "store/accounts.h"
#include "tests/security/app_role.h"
#include "tests/store/test_db.h"

using namespace wa;

namespace {

std::string bin() {
  const char* d = std::getenv("WACONN_BIN_DIR");
  if (d == nullptr || *d == '\0') FAIL("WACONN_BIN_DIR is not set (the directory holding waconnector)");
  return std::string(d) + "/waconnector";
}

bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One `waconnector run` child without ALLOW_RLS_BYPASS in its environment (test_main sets it for
// the other suites' fixtures); killed at the end.
struct Run {
  pid_t pid = -1;
  std::string log = fmt::format("/tmp/waconn-sec-{}-{}.log", ::getpid(), std::rand());
  Run(const std::string& url, const std::string& business_id, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{bin(),    "run",         "--database-url", url,         "--pod",    "sec-0",
                                  "--http", "127.0.0.1:0", "--business-id",  business_id, "--wa-url", "none"};
    for (auto& e : extra) args.push_back(std::move(e));
    pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::unsetenv("ALLOW_RLS_BYPASS");
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  int wait_exit(std::chrono::milliseconds timeout) {
    int status = 0;
    if (!wait_for([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, timeout)) return -1;
    pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  ~Run() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    std::remove(log.c_str());
  }
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;
};

}  // namespace

TEST_CASE("waconnector run under a waconnector_app role reports RLS in force and leads",
          "[pg][process][security]") {
  test::TestDatabase db;
  {
    auto c = db.connect();
    store::add_account(c, "sec-a", std::nullopt);
    store::add_account(c, "sec-b", std::nullopt);
  }
  test::AppRole role;
  // No --business-id filter would also work; one account keeps the check simple.
  Run run(role.url(db), "sec-a");
  REQUIRE(wait_for(
      [&] {
        auto c = db.connect();
        auto r = c.exec("leader", "SELECT assigned_pod FROM wa_accounts WHERE business_id = 'sec-a'");
        return r.rows() == 1 && !r.is_null(0, 0) && r.text(0, 0) == "sec-0";
      },
      std::chrono::seconds(20)));
  const auto text = slurp(run.log);
  INFO(text);
  CHECK(text.find(R"("event":"row_level_security","enforced":true)") != std::string::npos);
  CHECK(text.find(fmt::format(R"("role":"{}")", role.name())) != std::string::npos);
  CHECK(text.find("policy") == std::string::npos);  // no "violates row-level security policy" anywhere
  auto c = db.connect();
  CHECK(c.exec("other", "SELECT assigned_pod IS NULL FROM wa_accounts WHERE business_id = 'sec-b'")
            .boolean(0, 0));
}

TEST_CASE("waconnector run as a superuser refuses to start without --allow-rls-bypass",
          "[pg][process][security]") {
  test::TestDatabase db;
  {
    auto c = db.connect();
    store::add_account(c, "sec-a", std::nullopt);
  }
  {
    Run run(db.url(), "sec-a");
    CHECK(run.wait_exit(std::chrono::seconds(20)) == 2);
    const auto text = slurp(run.log);
    INFO(text);
    CHECK(text.find("row-level security does not bind database role") != std::string::npos);
    CHECK(text.find("superuser") != std::string::npos);
  }
  Run run(db.url(), "sec-a", {"--allow-rls-bypass"});
  REQUIRE(
      wait_for([&] { return slurp(run.log).find(R"("event":"row_level_security")") != std::string::npos; },
               std::chrono::seconds(20)));
  const auto text = slurp(run.log);
  INFO(text);
  CHECK(text.find(R"("enforced":false)") != std::string::npos);
  CHECK(text.find(R"("bypass_allowed":true)") != std::string::npos);
  CHECK(run.wait_exit(std::chrono::milliseconds(500)) == -1);  // still running
}

TEST_CASE("the manifests never let pods bypass row-level security", "[security]") {
  const char* src = std::getenv("WACONN_SOURCE_DIR");
  const std::string root = src != nullptr && *src != '\0' ? src : WACONN_DEFAULT_SOURCE_DIR;
  std::size_t files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root + "/deploy")) {
    if (!e.is_regular_file()) continue;
    ++files;
    const auto text = slurp(e.path().string());
    INFO(e.path().string());
    CHECK(text.find("ALLOW_RLS_BYPASS") == std::string::npos);
    CHECK(text.find("allow-rls-bypass") == std::string::npos);
  }
  CHECK(files > 5);
}
