// `waconnector` as a process: a wrong KEK stops `run` before any account starts (exit 2, the
// setting named), Kubernetes without --kek-file is refused, and a database password never shows
// up in any log line, error or /status of a run (URL on the command line, in a file, unparseable,
// or a server that is not there).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "core/crypto/bytes.h"
#include "core/crypto/random.h"
#include "store/accounts.h"
#include "store/sealing.h"
#include "tests/app/http_client.h"
#include "tests/store/test_db.h"

using namespace wa;
using namespace std::chrono_literals;

namespace {

std::string bin() {
  const char* d = std::getenv("WACONN_BIN_DIR");
  REQUIRE(d != nullptr);
  return std::string(d) + "/waconnector";
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string temp_path(const std::string& what) {
  static int seq = 0;
  return fmt::format("/tmp/waconn-sealing-test-{}-{}-{}", getpid(), seq++, what);
}

// One waconnector process, stdout and stderr into one file; env overrides (empty value: unset).
class Process {
 public:
  Process(const std::vector<std::string>& args, const std::map<std::string, std::string>& env)
      : out_(temp_path("out")) {
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      const int fd = open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      for (const char* v : {"DATABASE_URL", "WACONN_DATABASE_URL", "WACONN_DATABASE_URL_FILE",
                            "WACONN_KEK_FILE", "KUBERNETES_SERVICE_HOST", "HTTP_LISTEN", "POD_NAME"})
        unsetenv(v);
      for (const auto& [k, v] : env) v.empty() ? unsetenv(k.c_str()) : setenv(k.c_str(), v.c_str(), 1);
      const std::string b = bin();
      std::vector<char*> argv{const_cast<char*>(b.c_str())};
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(b.c_str(), argv.data());
      _exit(127);
    }
  }
  ~Process() {
    if (pid_ > 0 && !code_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    std::remove(out_.c_str());
  }
  // Exit code, or nullopt if still running after `t`.
  std::optional<int> wait(std::chrono::milliseconds t) {
    const auto end = std::chrono::steady_clock::now() + t;
    while (!code_ && std::chrono::steady_clock::now() < end) {
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_)
        code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      else
        std::this_thread::sleep_for(20ms);
    }
    return code_;
  }
  void term() {
    if (!code_) kill(pid_, SIGTERM);
  }
  std::string output() const { return slurp(out_); }
  // Waits until the output contains `s`.
  bool wait_for(const std::string& s, std::chrono::milliseconds t) {
    const auto end = std::chrono::steady_clock::now() + t;
    while (std::chrono::steady_clock::now() < end) {
      if (output().find(s) != std::string::npos) return true;
      if (wait(0ms)) return output().find(s) != std::string::npos;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }
  int http_port() const {
    const auto o = output();
    const auto at = o.find("\"event\":\"http_listening\"");
    if (at == std::string::npos) return 0;
    const auto p = o.find("\"port\":", at);
    return p == std::string::npos ? 0 : std::stoi(o.substr(p + 7));
  }

 private:
  std::string out_;
  pid_t pid_ = -1;
  std::optional<int> code_;
};

std::string write_file(const std::string& text) {
  const auto path = temp_path("file");
  std::ofstream(path) << text;
  chmod(path.c_str(), 0600);
  return path;
}

// `url` with `password` in its userinfo ("postgresql://postgres@..." -> "postgresql://postgres:pw@...").
std::string with_password(const std::string& url, const std::string& password) {
  const auto at = url.find('@');
  REQUIRE(url.rfind("postgresql://", 0) == 0);
  REQUIRE(at != std::string::npos);
  return url.substr(0, at) + ":" + password + url.substr(at);
}

std::string fresh_password() {
  return "Pw" + crypto::to_hex(crypto::random_bytes(12));
}

}  // namespace

TEST_CASE("secrets: a wrong KEK stops run before any account starts, naming the setting",
          "[sealing][pg][process]") {
  test::TestDatabase db;
  {
    auto c = db.connect();
    store::add_account(c, "acme", std::nullopt);
  }
  const auto right = write_file(store::KekRing::generate_line() + "\n");
  const auto wrong = write_file(store::KekRing::generate_line() + "\n");
  const std::vector<std::string> args{"run",    "--database-url", db.url(),   "--pod", "p0",
                                      "--http", "127.0.0.1:0",    "--wa-url", "none"};
  {
    // The first run creates the data key under the right KEK; it leads the account.
    Process p(args, {{"WACONN_KEK_FILE", right}});
    REQUIRE(p.wait_for("\"event\":\"lock_acquired\"", 20s));
    p.term();
    REQUIRE(p.wait(15s).has_value());
  }
  auto c = db.connect();
  const auto epoch_before = c.exec("epoch", "SELECT lease_epoch FROM wa_accounts").i64(0, 0);
  const auto events_before = c.exec("events", "SELECT count(*) FROM ha_events").i64(0, 0);

  Process p(args, {{"WACONN_KEK_FILE", wrong}});
  const auto code = p.wait(20s);
  INFO(p.output());
  REQUIRE(code.has_value());
  CHECK(*code == 2);
  CHECK_THAT(p.output(), Catch::Contains("waconnector: --kek-file (WACONN_KEK_FILE)") &&
                             Catch::Contains("not in the file"));
  // No account started: no lease begun, no event written, the device row untouched.
  CHECK(c.exec("epoch", "SELECT lease_epoch FROM wa_accounts").i64(0, 0) == epoch_before);
  CHECK(c.exec("events", "SELECT count(*) FROM ha_events").i64(0, 0) == events_before);
  CHECK(p.output().find("lock_acquired") == std::string::npos);

  // A KEK file that is named but missing: the same kind of refusal.
  Process missing(args, {{"WACONN_KEK_FILE", "/nonexistent/kek"}});
  REQUIRE(missing.wait(20s) == std::optional<int>(2));
  CHECK_THAT(missing.output(), Catch::Contains("--kek-file (WACONN_KEK_FILE) /nonexistent/kek: cannot read"));
  std::remove(right.c_str());
  std::remove(wrong.c_str());
}

TEST_CASE("secrets: in Kubernetes, run without --kek-file is refused (no generated key)",
          "[sealing][process]") {
  Process p(
      {"run", "--database-url", "postgresql://postgres@127.0.0.1:1/x", "--pod", "p0", "--wa-url", "none"},
      {{"KUBERNETES_SERVICE_HOST", "10.0.0.1"}});
  REQUIRE(p.wait(20s) == std::optional<int>(2));
  CHECK_THAT(p.output(), Catch::Contains("--kek-file (WACONN_KEK_FILE) is required in Kubernetes"));
}

TEST_CASE("secrets: no log line, error or /status of a run carries the database password",
          "[sealing][pg][process]") {
  test::TestDatabase db;
  {
    auto c = db.connect();
    store::add_account(c, "acme", std::nullopt);
  }
  const auto kek = write_file(store::KekRing::generate_line() + "\n");
  const auto password = fresh_password();
  const auto url = with_password(db.url(), password);  // the test server trusts local connections
  const std::map<std::string, std::string> env{{"WACONN_KEK_FILE", kek}};
  const std::vector<std::string> run_args{"--pod", "p0", "--http", "127.0.0.1:0", "--wa-url", "none"};
  std::string everything;

  SECTION("on the command line: warned about, never printed; /status clean") {
    auto args = std::vector<std::string>{"run", "--database-url", url};
    args.insert(args.end(), run_args.begin(), run_args.end());
    Process p(args, env);
    REQUIRE(p.wait_for("\"event\":\"lock_acquired\"", 20s));
    CHECK_THAT(p.output(), Catch::Contains("database_password_on_command_line"));
    for (const char* path : {"/status", "/ready", "/metrics", "/health"})
      everything += test::http_request(p.http_port(), "GET", path).body;
    p.term();
    REQUIRE(p.wait(15s).has_value());
    everything += p.output();
  }
  SECTION("from --database-url-file: no warning, never printed") {
    const auto file = write_file(url + "\n");
    auto args = std::vector<std::string>{"run", "--database-url-file", file};
    args.insert(args.end(), run_args.begin(), run_args.end());
    Process p(args, env);
    REQUIRE(p.wait_for("\"event\":\"lock_acquired\"", 20s));
    everything += test::http_request(p.http_port(), "GET", "/status").body;
    p.term();
    REQUIRE(p.wait(15s).has_value());
    everything += p.output();
    CHECK(everything.find("database_password_on_command_line") == std::string::npos);
    std::remove(file.c_str());
  }
  SECTION("a server that is not there: connection errors in the log and /status") {
    const auto nowhere = with_password("postgresql://postgres@127.0.0.1:1/x?connect_timeout=1", password);
    Process p({"run", "--pod", "p0", "--http", "127.0.0.1:0", "--wa-url", "none"},
              {{"WACONN_KEK_FILE", kek}, {"WACONN_DATABASE_URL", nowhere}});
    REQUIRE(p.wait_for("\"event\":\"http_listening\"", 20s));
    std::this_thread::sleep_for(3s);
    everything += test::http_request(p.http_port(), "GET", "/status").body;
    p.term();
    p.wait(15s);
    everything += p.output();
    CHECK_THAT(everything, Catch::Contains("kek_check_deferred"));
  }
  SECTION("URLs libpq cannot parse, for every command") {
    for (const auto& bad :
         {"postgresql://u:" + password + "%zz@h/db", "postgresql://u:" + password + "@[::1/db",
          "host=h password=" + password + " bogus", "host=h password='" + password})
      for (const char* cmd : {"run", "migrate", "keys"}) {
        std::vector<std::string> args{cmd};
        if (std::string(cmd) == "keys") args.emplace_back("status");
        args.insert(args.end(), {"--database-url", bad});
        if (std::string(cmd) == "run") args.insert(args.end(), run_args.begin(), run_args.end());
        Process p(args, env);
        CHECK(p.wait(20s) == std::optional<int>(2));
        CHECK_THAT(p.output(), Catch::Contains("cannot parse"));
        everything += p.output();
      }
  }
  INFO(everything);
  CHECK_FALSE(everything.empty());
  CHECK(everything.find(password) == std::string::npos);
  std::remove(kek.c_str());
}
