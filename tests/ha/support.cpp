#include "support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "store/accounts.h"
#include "store/migrator.h"

namespace wa::hatest {
namespace {

std::string quote(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

// The same connection parameters as `url` but with another database name, as key=value conninfo.
std::string with_dbname(const std::string& url, const std::string& dbname) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
  if (opts == nullptr) {
    std::string msg = err ? err : "cannot parse";
    if (err) PQfreemem(err);
    FAIL("WACONN_TEST_DATABASE_URL does not parse: " << msg);
  }
  std::string out;
  for (auto* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || std::string_view(o->keyword) == "dbname") continue;
    out += fmt::format("{}={} ", o->keyword, quote(o->val));
  }
  PQconninfoFree(opts);
  return out + "dbname=" + quote(dbname);
}

}  // namespace

std::string base_url() {
  const char* u = std::getenv("WACONN_TEST_DATABASE_URL");
  if (u == nullptr || *u == '\0') FAIL("WACONN_TEST_DATABASE_URL is not set (scripts/test.sh starts a cluster)");
  return u;
}

TestDb::TestDb() {
  const auto base = base_url();
  std::random_device rd;
  name_ = fmt::format("waconn_ha_{:x}", (static_cast<std::uint64_t>(rd()) << 32) | rd());
  auto admin = pg::Connection::open(base, "test admin");
  admin.exec_simple("create test database", fmt::format("CREATE DATABASE {}", name_).c_str());
  url_ = with_dbname(base, name_);
  auto c = connect("migrate test database");
  store::migrate(c);
}

TestDb::~TestDb() {
  try {
    auto admin = pg::Connection::open(base_url(), "test admin");
    admin.exec_simple("drop test database", fmt::format("DROP DATABASE IF EXISTS {} WITH (FORCE)", name_).c_str());
  } catch (...) {
    // Best effort: a leftover database is harmless in a throwaway cluster.
  }
}

pg::Connection TestDb::connect(std::string_view purpose) const { return pg::Connection::open(url_, purpose); }

void TestDb::add_account(const std::string& business_id) const {
  auto c = connect("add account");
  store::add_account(c, business_id, std::nullopt);
}

bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::string bin_dir() {
  if (const char* d = std::getenv("WACONN_BIN_DIR"); d != nullptr && *d != '\0') return d;
  return WACONN_DEFAULT_BIN_DIR;
}

Replica::Replica(const std::string& pod, const std::vector<std::string>& args) : pod_(pod) {
  static std::atomic<int> seq{0};
  log_path_ = fmt::format("/tmp/waconn-ha-test-{}-{}-{}.log", getpid(), pod, seq++);
  const std::string bin = bin_dir() + "/waconnector";
  // Election only unless the test names a WhatsApp endpoint (a later --wa-url wins).
  std::vector<std::string> argv_s{bin, "run", "--pod", pod, "--http", "127.0.0.1:0", "--wa-url", "none"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_ = fork();
  if (pid_ == 0) {
    const int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 2);
      dup2(fd, 1);
    }
    // The test process may block signals; the child must start with the defaults.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  REQUIRE(pid_ > 0);
}

Replica::~Replica() {
  if (running()) {
    kill(pid_, SIGKILL);
    wait_exit(std::chrono::seconds(5));
  }
  // A sanitizer report inside a child is kept for a human (and named on stderr).
  const auto l = log();
  if (l.find("Sanitizer") != std::string::npos || l.find("runtime error:") != std::string::npos) {
    std::fprintf(stderr, "replica %s: sanitizer report kept in %s\n", pod_.c_str(), log_path_.c_str());
    return;
  }
  unlink(log_path_.c_str());
}

void Replica::signal(int sig) { kill(pid_, sig); }

bool Replica::running() {
  if (exit_) return false;
  return !wait_exit(std::chrono::milliseconds(0)).has_value();
}

std::optional<int> Replica::wait_exit(std::chrono::milliseconds timeout) {
  if (exit_) return exit_;
  const auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int st = 0;
    const pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      exit_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      return exit_;
    }
    if (std::chrono::steady_clock::now() >= end) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::string Replica::log() const {
  std::ifstream f(log_path_);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int Replica::http_port(std::chrono::milliseconds timeout) {
  int port = 0;
  wait_for(
      [&] {
        const auto l = log();
        const auto at = l.find("\"event\":\"http_listening\"");
        if (at == std::string::npos) return false;
        const auto p = l.find("\"port\":", at);
        if (p == std::string::npos) return false;
        port = std::atoi(l.c_str() + p + 7);
        return port > 0;
      },
      timeout);
  return port;
}

HttpReply http_get(int port, const std::string& path) {
  HttpReply out;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return out;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return out;
  }
  const auto req = fmt::format("GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
  [[maybe_unused]] auto w = write(fd, req.data(), req.size());
  std::string resp;
  char buf[4096];
  for (;;) {
    const auto n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    resp.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  if (resp.rfind("HTTP/1.", 0) == 0 && resp.size() > 12) out.status = std::atoi(resp.c_str() + 9);
  if (auto b = resp.find("\r\n\r\n"); b != std::string::npos) out.body = resp.substr(b + 4);
  return out;
}

std::vector<store::HaEvent> events(const TestDb& db, const std::string& business_id) {
  auto c = db.connect("read ha_events");
  return store::list_events(c, business_id);
}

std::optional<store::HaEvent> last_gain(const std::vector<store::HaEvent>& ev) {
  std::optional<store::HaEvent> out;
  for (const auto& e : ev)
    if (e.kind == store::EventKind::acquired || e.kind == store::EventKind::takeover) out = e;
  return out;
}

}  // namespace wa::hatest
