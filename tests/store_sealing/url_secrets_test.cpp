// The database URL's password: read from a file or env instead of the command line, found in
// URLs libpq cannot parse, and masked in every text we print.
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "app/config_check.h"
#include "app/flags.h"

using namespace wa::app;

namespace {

struct Env {
  std::string name;
  Env(const char* n, const std::string& v) : name(n) { ::setenv(n, v.c_str(), 1); }
  ~Env() { ::unsetenv(name.c_str()); }
};

Flags make() {
  return Flags("waconnector test", "test",
               {{"database-url", "WACONN_URLTEST_DB", "PostgreSQL URL", "", false, true}});
}

void parse(Flags& f, std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  f.parse(static_cast<int>(argv.size()), argv.data());
}

std::string file_with(const std::string& text) {
  static int seq = 0;
  const auto path = fmt::format("/tmp/waconn-urltest-{}-{}", getpid(), seq++);
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST_CASE("database url: --database-url-file and the environment, in order of precedence",
          "[sealing][flags]") {
  for (const char* v : {"WACONN_DATABASE_URL", "WACONN_DATABASE_URL_FILE", "WACONN_URLTEST_DB"})
    ::unsetenv(v);
  const auto file = file_with("postgresql://u@from-file/db\n");
  {
    Flags f = make();
    parse(f, {"--database-url-file", file});
    CHECK(f.str("database-url") == "postgresql://u@from-file/db");  // trailing newline dropped
  }
  {
    Env e1("WACONN_URLTEST_DB", "postgresql://u@command-env/db");
    Flags f = make();
    parse(f, {});
    CHECK(f.str("database-url") == "postgresql://u@command-env/db");
    Env e2("WACONN_DATABASE_URL", "postgresql://u@waconn-env/db");
    CHECK(f.str("database-url") == "postgresql://u@waconn-env/db");
    Env e3("WACONN_DATABASE_URL_FILE", file);
    CHECK(f.str("database-url") == "postgresql://u@from-file/db");
    Flags g = make();
    parse(g, {"--database-url", "postgresql://u@cli/db"});
    CHECK(g.str("database-url") == "postgresql://u@cli/db");
  }
  {
    Flags f = make();
    CHECK_THROWS_WITH(parse(f, {"--database-url-file", "/nonexistent/url"}),
                      Catch::Contains("--database-url-file /nonexistent/url: cannot read"));
  }
  {
    Flags f = make();
    CHECK_THROWS_WITH(parse(f, {}), Catch::Contains("(or --database-url-file)"));
  }
  std::remove(file.c_str());
}

TEST_CASE("database url: the password is found and masked, parseable or not", "[sealing][flags]") {
  const std::string pw = "S3cr-t_pw";
  struct Case {
    std::string url;
    std::string password;
  };
  for (const Case& c : std::vector<Case>{
           {"postgresql://u:" + pw + "@h/db", pw},
           {"postgresql://u:" + pw + "%zz@h/db", pw + "%zz"},
           {"postgresql://u:" + pw + "@[::1/db", pw},
           {"postgresql://u@h/db?password=" + pw + "&sslmode=require", pw},
           {"host=h password=" + pw + " bogus", pw},
           {"host=h password = '" + pw + "'", pw},
           {"host=h password='" + pw, pw},
           {"postgresql://u:S3cr%2Dt_pw@h/db", pw},
       }) {
    INFO(c.url);
    const auto found = database_url_passwords(c.url);
    CHECK(std::find(found.begin(), found.end(), c.password) != found.end());
    const auto masked = redact_database_password("error: \"" + c.url + "\" and " + c.password, c.url);
    CHECK(masked.find(pw) == std::string::npos);
    CHECK(masked.find("****") != std::string::npos);
    CHECK(check_database_url(c.url).find(pw) == std::string::npos);
  }
  CHECK(database_url_passwords("postgresql://u@h/db").empty());
  CHECK(database_url_passwords("host=h user=u").empty());
}

TEST_CASE("database url: once resolved, the password is scrubbed from any text", "[sealing][flags]") {
  Flags f = make();
  parse(f, {"--database-url", "postgresql://u:Another-Pw-77@h/db"});
  (void)f.str("database-url");
  CHECK(redact_secrets("connection to Another-Pw-77 failed") == "connection to **** failed");
}
