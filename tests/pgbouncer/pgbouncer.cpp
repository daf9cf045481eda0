#include "pgbouncer.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "support.h"

namespace wa::pgbtest {
namespace {

int free_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(s >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

std::string find_pgbouncer() {
  for (const char* p : {"/usr/sbin/pgbouncer", "/usr/bin/pgbouncer", "/usr/local/bin/pgbouncer"})
    if (::access(p, X_OK) == 0) return p;
  FAIL("pgbouncer is not installed (scripts/install-deps.sh installs the Debian package)");
  return {};
}

}  // namespace

std::string conninfo_value(const std::string& url, const std::string& key) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
  if (err) PQfreemem(err);
  std::string v;
  for (auto* o = opts; o && o->keyword; ++o)
    if (key == o->keyword && o->val) v = o->val;
  if (opts) PQconninfoFree(opts);
  return v;
}

PgBouncer::PgBouncer(const std::string& upstream_url, const std::string& pool_mode, int pool_size) {
  const auto bin = find_pgbouncer();
  dbname_ = conninfo_value(upstream_url, "dbname");
  REQUIRE_FALSE(dbname_.empty());
  int upstream_port = 0;
  {
    auto c = pg::Connection::open(upstream_url, "pgbouncer test: server port");
    upstream_port = static_cast<int>(c.exec("port", "SELECT current_setting('port')::int").i64(0, 0));
  }
  char tmpl[] = "/tmp/waconn-pgbouncer-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  dir_ = tmpl;
  port_ = free_port();
  {
    std::ofstream ini(dir_ + "/pgbouncer.ini");
    ini << "[databases]\n"
        << fmt::format("* = host=127.0.0.1 port={} user=postgres\n", upstream_port) << "[pgbouncer]\n"
        << "listen_addr = 127.0.0.1\n"
        << fmt::format("listen_port = {}\n", port_) << "unix_socket_dir =\n"
        << "auth_type = any\n"
        << fmt::format("pool_mode = {}\n", pool_mode) << "max_client_conn = 500\n"
        << fmt::format("default_pool_size = {}\n", pool_size)
        // libpq's "options" (the pool's statement limits) is not a parameter PgBouncer forwards:
        // ignored here, the role's settings apply (docs/operations.md).
        << "ignore_startup_parameters = extra_float_digits,options\n"
        << "admin_users = postgres\n"
        << fmt::format("logfile = {}/pgbouncer.log\n", dir_) << fmt::format("pidfile = {}/pgbouncer.pid\n", dir_);
  }
  const bool root = ::getuid() == 0;
  if (root) {
    const passwd* pw = ::getpwnam("postgres");
    REQUIRE(pw != nullptr);
    for (const auto& f : {dir_, dir_ + "/pgbouncer.ini"})
      REQUIRE(::chown(f.c_str(), pw->pw_uid, pw->pw_gid) == 0);
  }
  pid_ = ::fork();
  if (pid_ == 0) {
    const int fd = ::open((dir_ + "/stderr.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    const std::string ini = dir_ + "/pgbouncer.ini";
    if (root)
      ::execl(bin.c_str(), bin.c_str(), "-u", "postgres", ini.c_str(), static_cast<char*>(nullptr));
    else
      ::execl(bin.c_str(), bin.c_str(), ini.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  REQUIRE(pid_ > 0);
  INFO("pgbouncer log: " << log());
  REQUIRE(hatest::wait_for(
      [&] {
        try {
          auto c = pg::Connection::open(url(), "pgbouncer test: ready", {{"connect_timeout", "2"}});
          c.exec("ready", "SELECT 1");
          return true;
        } catch (const pg::Error&) {
          return false;
        }
      },
      std::chrono::seconds(10)));
}

PgBouncer::~PgBouncer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int st = 0;
    for (int i = 0; i < 100 && ::waitpid(pid_, &st, WNOHANG) == 0; ++i) ::usleep(20000);
    if (::waitpid(pid_, &st, WNOHANG) == 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &st, 0);
    }
  }
  if (!dir_.empty()) std::system(fmt::format("rm -rf '{}'", dir_).c_str());
}

std::string PgBouncer::url() const {
  return fmt::format("host=127.0.0.1 port={} dbname={} user=postgres", port_, dbname_);
}

std::string PgBouncer::log() const {
  std::ifstream f(dir_ + "/pgbouncer.log");
  std::ostringstream s;
  s << f.rdbuf();
  std::ifstream e(dir_ + "/stderr.log");
  s << e.rdbuf();
  return s.str();
}

pg::Connection PgBouncer::admin() {
  return pg::Connection::open(fmt::format("host=127.0.0.1 port={} dbname=pgbouncer user=postgres", port_),
                              "pgbouncer admin console");
}

namespace {

// The admin console speaks the simple protocol only.
pg::Result show(pg::Connection& c, const char* what) {
  pg::Result r(PQexec(c.raw(), what));
  INFO(what << ": " << PQerrorMessage(c.raw()));
  REQUIRE(PQresultStatus(r.get()) == PGRES_TUPLES_OK);
  return r;
}

}  // namespace

std::int64_t PgBouncer::transactions() {
  auto c = admin();
  auto r = show(c, "SHOW STATS");
  const int db = r.col_index("database"), xact = r.col_index("total_xact_count");
  REQUIRE(db >= 0);
  REQUIRE(xact >= 0);
  for (int i = 0; i < r.rows(); ++i)
    if (r.text(i, db) == dbname_) return r.i64(i, xact);
  return 0;
}

std::int64_t PgBouncer::clients(const std::string& application_name) {
  auto c = admin();
  auto r = show(c, "SHOW CLIENTS");
  const int app = r.col_index("application_name");
  REQUIRE(app >= 0);
  std::int64_t n = 0;
  for (int i = 0; i < r.rows(); ++i)
    if (r.text(i, app) == application_name) ++n;
  return n;
}

}  // namespace wa::pgbtest
