// The migrate and accounts commands, run as the real binary in child processes.
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <thread>

#include <catch2/catch.hpp>

#include "store/migrator.h"
#include "tests/store/test_db.h"

using namespace wa;

namespace {

std::string binary() {
  if (const char* d = std::getenv("WACONN_BIN_DIR"); d != nullptr && *d != '\0')
    return (std::filesystem::path(d) / "waconnector").string();
  // Tests and the binary share the build's bin/ directory.
  return (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "waconnector").string();
}

struct Run {
  int code = -1;
  std::string out;  // stdout and stderr
};

// Runs `waconnector ARGS` with DATABASE_URL set (when non-empty). Arguments are ours: no quoting
// beyond single quotes is needed.
Run run(const std::string& database_url, const std::string& args, const std::string& env = {}) {
  const std::string bin = binary();
  REQUIRE(std::filesystem::exists(bin));
  std::string cmd;
  if (!database_url.empty()) cmd += "DATABASE_URL='" + database_url + "' ";
  cmd += env + " WACONN_LOG_LEVEL=error '" + bin + "' " + args + " 2>&1";
  Run r;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

}  // namespace

TEST_CASE("cli: three concurrent migrate processes, then a rerun", "[store][pg][cli]") {
  test::TestDatabase db(false);
  std::array<Run, 3> runs;
  {
    std::vector<std::thread> ts;
    for (std::size_t i = 0; i < runs.size(); ++i) ts.emplace_back([&, i] { runs[i] = run(db.url(), "migrate"); });
    for (auto& t : ts) t.join();
  }
  int applied_lines = 0;
  for (const auto& r : runs) {
    INFO(r.out);
    CHECK(r.code == 0);
    const std::regex re("applied \\d{4}_");
    applied_lines += static_cast<int>(std::distance(std::sregex_iterator(r.out.begin(), r.out.end(), re),
                                                    std::sregex_iterator()));
  }
  CHECK(applied_lines == static_cast<int>(store::embedded_migrations().size()));
  auto c = db.connect();
  CHECK(store::current_schema_version(c) == store::latest_known_version());

  auto again = run(db.url(), "migrate");
  CHECK(again.code == 0);
  CHECK_THAT(again.out, Catch::Contains("schema up to date at version " + std::to_string(store::latest_known_version())));
}

TEST_CASE("cli: migrate refuses a newer schema, an unreachable database and bad flags", "[store][pg][cli]") {
  test::TestDatabase db;
  {
    auto c = db.connect();
    c.exec("forge the next release's expand migration",
           "INSERT INTO wa_schema_migrations (version, name, checksum) VALUES ($1::int, 'next', 'x')",
           {store::latest_known_version() + 1});
  }
  // Inside the compatibility window (a rollback's init container): succeeds, changes nothing.
  auto rollback = run(db.url(), "migrate");
  CHECK(rollback.code == 0);
  CHECK_THAT(rollback.out, Catch::Contains("inside its compatibility window; nothing to do"));
  {
    auto c = db.connect();
    c.exec("forge a contract migration beyond the window",
           "INSERT INTO wa_schema_migrations (version, name, checksum, requires_binary) VALUES ($1::int, 'future', 'x', $2::int)",
           {store::latest_known_version() + 5, store::latest_known_version() + 1});
  }
  auto newer = run(db.url(), "migrate");
  CHECK(newer.code == 1);
  CHECK_THAT(newer.out, Catch::Contains("is newer than this binary") && Catch::Contains("outside its compatibility window") &&
                            Catch::Contains("upgrade waconnector"));

  // Port 1 on localhost: nothing listens there.
  auto down = run("postgresql://postgres@127.0.0.1:1/x?connect_timeout=2", "migrate");
  CHECK(down.code == 1);
  CHECK_THAT(down.out, Catch::Contains("cannot connect to PostgreSQL"));

  auto bad_mode = run(db.url(), "migrate --lock-keys md5");
  CHECK(bad_mode.code == 2);
  CHECK_THAT(bad_mode.out, Catch::Contains("--lock-keys"));
  auto no_url = run("", "migrate");
  CHECK(no_url.code == 2);
  CHECK_THAT(no_url.out, Catch::Contains("--database-url") && Catch::Contains("DATABASE_URL"));
  auto help = run("", "migrate --help");
  CHECK(help.code == 0);
  CHECK_THAT(help.out, Catch::Contains("LOCK_KEYS"));
}

TEST_CASE("cli: accounts add, list (masked), list --json, mode mismatch, rekey", "[store][pg][cli]") {
  test::TestDatabase db(false);
  REQUIRE(run(db.url(), "migrate").code == 0);

  auto add = run(db.url(), "accounts add --business-id acme --jid 15551234567:2@s.whatsapp.net");
  INFO(add.out);
  CHECK(add.code == 0);
  CHECK_THAT(add.out, Catch::Contains("added business acme"));
  CHECK_THAT(add.out, !Catch::Contains("15551234567"));
  CHECK(run(db.url(), "accounts add --business-id bolt").code == 0);

  auto dup = run(db.url(), "accounts add --business-id acme");
  CHECK(dup.code == 1);
  CHECK_THAT(dup.out, Catch::Contains("business acme is already registered"));
  auto bad_id = run(db.url(), "accounts add --business-id 'no spaces'");
  CHECK(bad_id.code == 2);
  CHECK_THAT(bad_id.out, Catch::Contains("--business-id"));
  auto bad_jid = run(db.url(), "accounts add --business-id x --jid 12345");
  CHECK(bad_jid.code == 2);
  CHECK_THAT(bad_jid.out, Catch::Contains("--jid"));

  auto list = run(db.url(), "accounts list");
  CHECK(list.code == 0);
  CHECK_THAT(list.out, Catch::Contains("acme") && Catch::Contains("bolt") && Catch::Contains("2 account(s)"));
  CHECK_THAT(list.out, !Catch::Contains("15551234567"));
  auto json = run(db.url(), "accounts list --json");
  CHECK(json.code == 0);
  CHECK_THAT(json.out, Catch::Contains("\"jid\":\"15551234567:2@s.whatsapp.net\"") &&
                           Catch::Contains("\"business_id\":\"bolt\",\"jid\":null"));

  auto mismatch = run(db.url(), "accounts add --business-id cara --lock-keys hashtextextended");
  CHECK(mismatch.code == 1);
  CHECK_THAT(mismatch.out, Catch::Contains("differs from the cluster's lock-keys mode hashtext"));

  // The environment variable works like the flag.
  auto env_mismatch = run(db.url(), "accounts add --business-id cara", "LOCK_KEYS=hashtextextended");
  CHECK(env_mismatch.code == 1);
  CHECK_THAT(env_mismatch.out, Catch::Contains("differs from the cluster's lock-keys mode"));

  auto rekey = run(db.url(), "accounts rekey --lock-keys hashtextextended");
  CHECK(rekey.code == 0);
  CHECK_THAT(rekey.out, Catch::Contains("rekeyed 2 account(s)"));
  CHECK(run(db.url(), "accounts add --business-id cara --lock-keys hashtextextended").code == 0);
  // Without --lock-keys the stored mode applies.
  CHECK(run(db.url(), "accounts add --business-id dora").code == 0);
  auto remigrate = run(db.url(), "migrate");
  CHECK(remigrate.code == 0);
  CHECK_THAT(remigrate.out, Catch::Contains("lock keys: hashtextextended"));
  CHECK(run(db.url(), "migrate --lock-keys hashtext").code == 1);
  auto c = db.connect();
  CHECK(c.exec("key of dora", "SELECT lock_key = hashtextextended('pair:dora', 0) FROM wa_accounts WHERE business_id = 'dora'")
            .boolean(0, 0));
  CHECK(c.exec("key of cara", "SELECT lock_key = hashtextextended('pair:cara', 0) FROM wa_accounts WHERE business_id = 'cara'")
            .boolean(0, 0));

  test::TestDatabase empty(false);
  auto unmigrated = run(empty.url(), "accounts list");
  CHECK(unmigrated.code == 1);
  CHECK_THAT(unmigrated.out, Catch::Contains("run 'waconnector migrate'"));
}
