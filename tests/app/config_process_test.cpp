// Bad configuration ends the process at once with exit code 2 and ONE line on stderr naming the
// setting, for every command that takes it; never a retry loop (a process still running after
// 10 s fails the test). An unresolvable database host is different: an outage the pod retries
// through, logged as such. None of these needs a database.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <catch2/catch.hpp>

namespace {

std::string bin_dir() {
  if (const char* d = std::getenv("WACONN_BIN_DIR"); d != nullptr && *d != '\0') return d;
  char buf[4096] = {};
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  std::string self = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  return self.substr(0, self.rfind('/'));
}

struct Outcome {
  std::optional<int> exit_code;  // nullopt: still running at the deadline (then killed)
  std::string err;
};

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Runs waconnector with `args` and an environment without DATABASE_URL & co; waits up to `deadline`.
// `until`, when given, ends the wait 2 s after stderr contains it (the process is then killed).
Outcome run(const std::vector<std::string>& args, std::chrono::milliseconds deadline,
            const std::string& until = {}) {
  static int seq = 0;
  const auto err_path = fmt::format("/tmp/waconn-config-test-{}-{}.err", getpid(), seq++);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int fd = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int null = open("/dev/null", O_WRONLY);
    if (fd >= 0) dup2(fd, 2);
    if (null >= 0) dup2(null, 1);
    for (const char* v : {"DATABASE_URL", "POD_NAME", "HTTP_LISTEN", "WA_URL", "BUSINESS_IDS", "PGHOST",
                          "PGPORT", "PGSSLMODE", "PGDATABASE"})
      unsetenv(v);
    const std::string bin = bin_dir() + "/waconnector";
    std::vector<char*> argv{const_cast<char*>(bin.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  Outcome o;
  auto end = std::chrono::steady_clock::now() + deadline;
  bool seen = until.empty();
  for (;;) {
    int st = 0;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      o.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      break;
    }
    if (!seen && slurp(err_path).find(until) != std::string::npos) {
      seen = true;  // then 2 s more: a process about to give up would exit within them
      end = std::min(end, std::chrono::steady_clock::now() + std::chrono::seconds(2));
    }
    if (std::chrono::steady_clock::now() >= end) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  o.err = slurp(err_path);
  std::remove(err_path.c_str());
  return o;
}

// A syntactically valid URL of a server that is not there: commands fail at the flag checks first.
const std::string kNoServer = "postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=1";

void expect_config_error(const std::vector<std::string>& args, const std::string& setting,
                         const std::string& detail) {
  std::string shown;
  for (const auto& a : args)
    shown += (a.size() > 40 ? a.substr(0, 40) + "...(" + std::to_string(a.size()) + ")" : a) + " ";
  INFO("waconnector " << shown);
  const auto o = run(args, std::chrono::seconds(10));
  INFO("stderr: " << (o.err.size() > 400 ? o.err.substr(0, 400) + "..." : o.err));
  REQUIRE(o.exit_code.has_value());  // not a retry loop
  CHECK(*o.exit_code == 2);
  // Exactly one line, naming the setting.
  REQUIRE(!o.err.empty());
  CHECK(o.err.back() == '\n');
  CHECK(o.err.find('\n') == o.err.size() - 1);
  CHECK(o.err.rfind("waconnector: " + setting, 0) == 0);
  CHECK(o.err.find(detail) != std::string::npos);
  CHECK(o.err.size() < 400);
}

}  // namespace

TEST_CASE("bad configuration: run exits 2 with one line naming the setting", "[config][process]") {
  const std::vector<std::string> ok = {"run", "--pod", "p0", "--http", "127.0.0.1:0", "--wa-url", "none"};
  auto with = [&](std::vector<std::string> extra, bool url = true) {
    auto a = ok;
    if (url) extra.insert(extra.begin(), {"--database-url", kNoServer});
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  expect_config_error(with({"--database-url", ""}, false), "--database-url", "is empty");
  expect_config_error(
      with({"--database-url", "postgresql://postgres@127.0.0.1/postgres?sslmode=bogus"}, false),
      "--database-url", "sslmode='bogus'");
  expect_config_error(with({"--database-url", "host=127.0.0.1 port=54x32"}, false), "--database-url",
                      "port '54x32'");
  expect_config_error(with({"--wa-url", "ws://"}), "--wa-url", "no host");
  expect_config_error(with({"--http", "256.0.0.0:18080"}), "--http", "256.0.0.0");
  expect_config_error(with({"--pod", std::string(100000, 'p')}), "--pod", "100000 characters");
  expect_config_error(with({"--pod", "bad pod"}), "--pod", "0x20");
}

TEST_CASE("bad configuration: migrate and accounts reject the same database URLs", "[config][process]") {
  for (const std::vector<std::string>& cmd : {std::vector<std::string>{"migrate"},
                                              {"accounts", "list"},
                                              {"accounts", "add", "--business-id", "acme"},
                                              {"accounts", "pair", "--business-id", "acme"}}) {
    for (const auto& [url, detail] :
         std::vector<std::pair<std::string, std::string>>{{"", "is empty"},
                                                          {"host=127.0.0.1 sslmode=bogus", "sslmode='bogus'"},
                                                          {"host=h port=x", "port 'x'"}}) {
      auto a = cmd;
      a.insert(a.end(), {"--database-url", url});
      expect_config_error(a, "--database-url", detail);
    }
  }
}

TEST_CASE("an unresolvable database host is an outage: logged as such, retried, not exit 2",
          "[config][process]") {
  const auto o = run({"run", "--pod", "p0", "--http", "127.0.0.1:0", "--wa-url", "none", "--database-url",
                      "postgresql://postgres@no-such-host.invalid:5432/postgres?connect_timeout=1"},
                     std::chrono::seconds(15), "\"event\":\"database_host_unresolvable\"");
  INFO(o.err.substr(0, 2000));
  CHECK_FALSE(o.exit_code.has_value());  // still running (retrying) until killed
  CHECK(o.err.find("\"event\":\"database_host_unresolvable\"") != std::string::npos);
  CHECK(o.err.find("\"host\":\"no-such-host.invalid\"") != std::string::npos);
  CHECK(o.err.find("not a configuration error") != std::string::npos);
}
