// The HTTP surface of a real `waconnector run` process against real PostgreSQL: a live /metrics
// passes promtool and our exposition checks, /status and /ready describe the leader, and SIGTERM
// ends the process cleanly. Needs WACONN_TEST_DATABASE_URL (fails without it).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "http_client.h"
#include "prom_text_check.h"
#include "store/accounts.h"
#include "store/migrator.h"
#include "store/pg.h"

namespace {

std::string base_url() {
  const char* u = std::getenv("WACONN_TEST_DATABASE_URL");
  if (u == nullptr || *u == '\0') FAIL("WACONN_TEST_DATABASE_URL is not set (scripts/test.sh starts a cluster)");
  return u;
}

std::string bin_dir() {
  if (const char* d = std::getenv("WACONN_BIN_DIR"); d != nullptr && *d != '\0') return d;
  // Fallback: the test executable lives in the same bin/ directory as waconnector.
  char buf[4096] = {};
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  std::string self = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  return self.substr(0, self.rfind('/'));
}

std::string quote(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

// A database of our own, so this test neither sees nor leaves accounts of other tests.
struct TempDatabase {
  std::string name;
  std::string url;
  TempDatabase() {
    std::random_device rd;
    name = fmt::format("waconn_app_{:x}", (static_cast<std::uint64_t>(rd()) << 32) | rd());
    auto admin = wa::pg::Connection::open(base_url(), "test admin");
    admin.exec_simple("create test database", fmt::format("CREATE DATABASE {}", name).c_str());
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(base_url().c_str(), &err);
    if (opts == nullptr) {
      if (err != nullptr) PQfreemem(err);
      FAIL("WACONN_TEST_DATABASE_URL does not parse");
    }
    for (auto* o = opts; o->keyword != nullptr; ++o)
      if (o->val != nullptr && std::string_view(o->keyword) != "dbname") url += fmt::format("{}={} ", o->keyword, quote(o->val));
    PQconninfoFree(opts);
    url += "dbname=" + quote(name);
  }
  ~TempDatabase() {
    try {
      auto admin = wa::pg::Connection::open(base_url(), "test admin");
      admin.exec_simple("drop test database", fmt::format("DROP DATABASE IF EXISTS {} WITH (FORCE)", name).c_str());
    } catch (...) {
      // A leftover database in a throwaway cluster is harmless.
    }
  }
  TempDatabase(const TempDatabase&) = delete;
  TempDatabase& operator=(const TempDatabase&) = delete;
};

bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One `waconnector run` child; killed on destruction if still running.
struct RunProcess {
  pid_t pid = -1;
  std::string log;
  RunProcess(const std::string& url, const std::string& business_id) {
    log = fmt::format("/tmp/waconn-app-test-{}.log", ::getpid());
    const std::string bin = bin_dir() + "/waconnector";
    REQUIRE(::access(bin.c_str(), X_OK) == 0);
    std::vector<std::string> args{bin, "run", "--database-url", url, "--pod", "app-test-0",
                                  "--http", "127.0.0.1:0", "--business-id", business_id,
                                  // The HTTP surface is under test, not a WhatsApp session: run the
                                  // election alone so a leader becomes active without a server.
                                  "--wa-url", "none"};
    pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
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
  // Waits for exit; returns the exit status, or -1 on timeout.
  int wait_exit(std::chrono::milliseconds timeout) {
    int status = 0;
    const bool done = wait_for([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, timeout);
    if (!done) return -1;
    pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  ~RunProcess() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    std::remove(log.c_str());
  }
  RunProcess(const RunProcess&) = delete;
  RunProcess& operator=(const RunProcess&) = delete;
};

std::pair<int, std::string> promtool_check(const std::string& text) {
  const std::string promtool = std::getenv("PROMTOOL") ? std::getenv("PROMTOOL") : "/usr/bin/promtool";
  REQUIRE(::access(promtool.c_str(), X_OK) == 0);
  const std::string path = fmt::format("/tmp/waconn-app-metrics-{}.txt", ::getpid());
  std::ofstream(path) << text;
  std::FILE* p = ::popen((promtool + " check metrics < " + path + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int st = ::pclose(p);
  std::remove(path.c_str());
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

}  // namespace

TEST_CASE("waconnector run: live /status, /ready and /metrics of a leader - SIGTERM exits 0", "[pg][process][http]") {
  TempDatabase db;
  {
    auto c = wa::pg::Connection::open(db.url, "prepare test database");
    wa::store::migrate(c);
    wa::store::add_account(c, "app-acct-1", std::nullopt);
  }
  RunProcess run(db.url, "app-acct-1");

  int port = 0;
  const std::regex port_re("\"event\":\"run_started\".*\"http_port\":([0-9]+)");
  REQUIRE(wait_for(
      [&] {
        std::smatch m;
        const std::string text = slurp(run.log);
        if (std::regex_search(text, m, port_re)) port = std::stoi(m[1]);
        return port > 0;
      },
      std::chrono::seconds(20)));

  // Leading is an event we await through /status, not a sleep.
  wa::test::HttpResult status;
  REQUIRE(wait_for(
      [&] {
        status = wa::test::http_request(port, "GET", "/status");
        return status.body.find("\"role\":\"active\"") != std::string::npos;
      },
      std::chrono::seconds(20)));
  CHECK(status.status == 200);
  CHECK(status.body.find("\"pod\":\"app-test-0\"") != std::string::npos);
  CHECK(status.body.find("\"business_id\":\"app-acct-1\"") != std::string::npos);
  CHECK(status.body.find("\"epoch\":1") != std::string::npos);

  CHECK(wa::test::http_request(port, "GET", "/health").status == 200);
  const auto ready = wa::test::http_request(port, "GET", "/ready");
  CHECK(ready.status == 200);
  CHECK(ready.body.find("\"ready\":true") != std::string::npos);

  const auto metrics = wa::test::http_request(port, "GET", "/metrics");
  REQUIRE(metrics.status == 200);
  CHECK(metrics.headers.at("content-type") == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(metrics.body.find("waconnector_leader{business_id=\"app-acct-1\"} 1") != std::string::npos);
  CHECK(metrics.body.find("waconnector_lock_attempts_total{result=\"acquired\"} 1") != std::string::npos);
  const auto [rc, out] = promtool_check(metrics.body);
  INFO(out);
  CHECK(rc == 0);
  const auto problems = wa::test::check_exposition(metrics.body);
  for (const auto& p : problems) UNSCOPED_INFO(p);
  CHECK(problems.empty());

  CHECK(wa::test::http_request(port, "GET", "/nope").status == 404);

  REQUIRE(::kill(run.pid, SIGTERM) == 0);
  CHECK(run.wait_exit(std::chrono::seconds(15)) == 0);
}
