// app/flags: parsing, environment fallback, typed getters and their errors.
#include <cstdlib>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "app/flags.h"

using wa::app::ConfigError;
using wa::app::Flags;
using namespace std::chrono_literals;

namespace {

Flags make() {
  return Flags("waconnector run", "test command",
               {{"database-url", "WACONN_FLAGSTEST_DB", "PostgreSQL URL", "", false, true},
                {"pod", "WACONN_FLAGSTEST_POD", "pod name", "pod-default"},
                {"http", "WACONN_FLAGSTEST_HTTP", "listen address", "0.0.0.0:8080"},
                {"fence-after", "", "fence deadline", "5s"},
                {"replicas", "", "count", "3"},
                {"verbose", "", "more logs", "", true},
                {"opt", "", "no default", ""}});
}

// argv as Flags::parse wants it (mutable char*), kept alive by the vector of strings.
struct Argv {
  std::vector<std::string> s;
  std::vector<char*> p;
  explicit Argv(std::vector<std::string> a) : s(std::move(a)) {
    for (auto& x : s) p.push_back(x.data());
  }
  int argc() const { return static_cast<int>(p.size()); }
  char** argv() { return p.data(); }
};

bool parse(Flags& f, std::vector<std::string> args) {
  Argv a(std::move(args));
  return f.parse(a.argc(), a.argv());
}

struct EnvGuard {
  std::string name;
  EnvGuard(const char* n, const char* v) : name(n) { ::setenv(n, v, 1); }
  ~EnvGuard() { ::unsetenv(name.c_str()); }
  EnvGuard(const EnvGuard&) = delete;
  EnvGuard& operator=(const EnvGuard&) = delete;
};

std::string config_error(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("flags: command line beats environment beats default", "[flags]") {
  EnvGuard e1("WACONN_FLAGSTEST_POD", "pod-from-env");
  EnvGuard e2("WACONN_FLAGSTEST_DB", "postgresql://env");
  {
    Flags f = make();
    REQUIRE(parse(f, {}));
    CHECK(f.str("pod") == "pod-from-env");
    CHECK(f.str("database-url") == "postgresql://env");
    CHECK(f.str("http") == "0.0.0.0:8080");
    CHECK_FALSE(f.get("opt").has_value());
  }
  {
    Flags f = make();
    REQUIRE(parse(f, {"--pod", "p1", "--database-url=postgresql://cli", "extra"}));
    CHECK(f.str("pod") == "p1");
    CHECK(f.str("database-url") == "postgresql://cli");
    CHECK(f.positional() == std::vector<std::string>{"extra"});
  }
}

TEST_CASE("flags: an empty environment variable counts as unset", "[flags]") {
  EnvGuard e("WACONN_FLAGSTEST_POD", "");
  EnvGuard db("WACONN_FLAGSTEST_DB", "x");
  Flags f = make();
  REQUIRE(parse(f, {}));
  CHECK(f.str("pod") == "pod-default");
}

TEST_CASE("flags: missing required, unknown flag, missing value are ConfigErrors naming the setting", "[flags]") {
  ::unsetenv("WACONN_FLAGSTEST_DB");
  {
    Flags f = make();
    CHECK(config_error([&] { parse(f, {}); }) ==
          "--database-url (or WACONN_FLAGSTEST_DB) is required (or --database-url-file)");
  }
  {
    Flags f = make();
    CHECK(config_error([&] { parse(f, {"--database-url", "x", "--nope"}); }) ==
          "unknown flag --nope (see waconnector run --help)");
  }
  {
    Flags f = make();
    CHECK(config_error([&] { parse(f, {"--database-url", "x", "--pod"}); }) == "--pod needs a value");
  }
  {
    // A forgotten value must not swallow the next flag.
    Flags f = make();
    CHECK(config_error([&] { parse(f, {"--pod", "--database-url", "x"}); }) == "--pod needs a value");
  }
}

TEST_CASE("flags: booleans", "[flags]") {
  EnvGuard db("WACONN_FLAGSTEST_DB", "x");
  Flags f = make();
  REQUIRE(parse(f, {"--verbose"}));
  CHECK(f.boolean("verbose"));
  Flags g = make();
  REQUIRE(parse(g, {"--verbose=off"}));
  CHECK_FALSE(g.boolean("verbose"));
  Flags h = make();
  REQUIRE(parse(h, {"--verbose=maybe"}));
  CHECK(config_error([&] { (void)h.boolean("verbose"); }) == "--verbose: 'maybe' is not a boolean (true/false)");
  Flags n = make();
  REQUIRE(parse(n, {}));
  CHECK_FALSE(n.boolean("verbose"));
}

TEST_CASE("flags: durations", "[flags]") {
  EnvGuard db("WACONN_FLAGSTEST_DB", "x");
  const std::vector<std::pair<std::string, std::chrono::milliseconds>> good = {
      {"500ms", 500ms}, {"5s", 5000ms}, {"2m", 120000ms}, {"7", 7000ms}, {"1.5s", 1500ms}, {"0", 0ms}};
  for (const auto& [in, want] : good) {
    Flags f = make();
    REQUIRE(parse(f, {"--fence-after", in}));
    INFO(in);
    CHECK(f.duration("fence-after") == want);
  }
  Flags d = make();
  REQUIRE(parse(d, {}));
  CHECK(d.duration("fence-after") == 5s);
  for (const char* bad : {"abc", "5h", "5 s", "-1s", "inf", "nan", "1e300", "", "s"}) {
    Flags f = make();
    REQUIRE(parse(f, {std::string("--fence-after=") + bad}));
    INFO(bad);
    CHECK(config_error([&] { (void)f.duration("fence-after"); }).rfind("--fence-after: ", 0) == 0);
  }
}

TEST_CASE("flags: integers with range", "[flags]") {
  EnvGuard db("WACONN_FLAGSTEST_DB", "x");
  Flags f = make();
  REQUIRE(parse(f, {"--replicas", "5"}));
  CHECK(f.integer("replicas", 1, 9) == 5);
  CHECK(config_error([&] { (void)f.integer("replicas", 1, 4); }) == "--replicas: 5 is outside 1..4");
  for (const char* bad : {"5x", "x", "", "99999999999999999999"}) {
    Flags g = make();
    REQUIRE(parse(g, {std::string("--replicas=") + bad}));
    INFO(bad);
    CHECK(config_error([&] { (void)g.integer("replicas", 0, 100); }).find("is not an integer") != std::string::npos);
  }
}

TEST_CASE("flags: host:port", "[flags]") {
  EnvGuard db("WACONN_FLAGSTEST_DB", "x");
  const std::vector<std::tuple<std::string, std::string, int>> good = {
      {"127.0.0.1:8080", "127.0.0.1", 8080}, {":9090", "0.0.0.0", 9090}, {"[::1]:80", "::1", 80},
      {"0.0.0.0:0", "0.0.0.0", 0}, {"localhost:65535", "localhost", 65535}};
  for (const auto& [in, host, port] : good) {
    Flags f = make();
    REQUIRE(parse(f, {"--http", in}));
    INFO(in);
    CHECK(f.host_port("http") == std::pair<std::string, int>{host, port});
  }
  EnvGuard e("WACONN_FLAGSTEST_HTTP", "10.0.0.1:81");
  Flags envf = make();
  REQUIRE(parse(envf, {}));
  CHECK(envf.host_port("http") == std::pair<std::string, int>{"10.0.0.1", 81});
  for (const char* bad : {"8080", "host:", "host:x", "host:65536", "host:-1", "host: 80", "host:+80"}) {
    Flags f = make();
    REQUIRE(parse(f, {std::string("--http=") + bad}));
    INFO(bad);
    CHECK(config_error([&] { (void)f.host_port("http"); }).rfind("--http: ", 0) == 0);
  }
}

TEST_CASE("flags: --help prints every flag with env and default and stops parsing", "[flags]") {
  Flags f = make();
  CHECK_FALSE(parse(f, {"--help"}));
  const auto h = f.help_text();
  CHECK(h.find("--database-url VALUE") != std::string::npos);
  CHECK(h.find("[env WACONN_FLAGSTEST_DB]") != std::string::npos);
  CHECK(h.find("(default 0.0.0.0:8080)") != std::string::npos);
  CHECK(h.find("--verbose\n") != std::string::npos);
  CHECK(h.find("(required)") != std::string::npos);
}
