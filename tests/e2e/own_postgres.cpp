#include "own_postgres.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "store/pg.h"

namespace wa::e2e {

std::string source_dir() {
  if (const char* d = std::getenv("WACONN_SOURCE_DIR"); d != nullptr && *d != '\0') return d;
  return WACONN_DEFAULT_SOURCE_DIR;
}

std::pair<int, std::string> run_shell(const std::string& cmd) {
  std::string out;
  FILE* f = popen(cmd.c_str(), "r");
  REQUIRE(f != nullptr);
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  const int st = pclose(f);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return {WIFEXITED(st) ? WEXITSTATUS(st) : 128, out};
}

OwnPostgres::OwnPostgres(const std::string& tag, bool stat_statements)
    : dir_(fmt::format("/tmp/waconn-{}-{}", tag, getpid())) {
  std::filesystem::remove_all(dir_);
  start();
  if (!stat_statements) return;
  {
    // Only at server start: set it, then restart.
    auto c = pg::Connection::open(url_, "preload pg_stat_statements");
    c.exec_simple("preload", "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'");
  }
  stop();
  start();
  auto c = pg::Connection::open(url_, "create pg_stat_statements");
  c.exec_simple("create extension", "CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
}

OwnPostgres::~OwnPostgres() {
  run_shell(script("stop"));
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void OwnPostgres::stop() { REQUIRE(run_shell(script("stop")).first == 0); }

void OwnPostgres::start() {
  auto [rc, url] = run_shell(script("start"));
  REQUIRE(rc == 0);
  url_ = url;
}

std::string OwnPostgres::script(const std::string& cmd) const {
  return fmt::format("bash '{}/scripts/pg-cluster.sh' {} '{}'", source_dir(), cmd, dir_);
}

}  // namespace wa::e2e
