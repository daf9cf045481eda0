// Tokens in the store and through `waconnector tokens create|list|revoke` (the real binary).
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

#include "core/binary/json.h"
#include "store/accounts.h"
#include "store/tokens.h"
#include "tests/store/test_db.h"

using namespace wa;

namespace {

std::string binary() {
  if (const char* d = std::getenv("WACONN_BIN_DIR"); d != nullptr && *d != '\0')
    return (std::filesystem::path(d) / "waconnector").string();
  return (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "waconnector").string();
}

// Runs the binary through the shell with single-quoted arguments (ours contain no quote).
std::pair<int, std::string> run(const std::string& args) {
  std::string cmd = "'";
  cmd += binary();
  cmd += "' ";
  cmd += args;
  cmd += " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int st = ::pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

}  // namespace

TEST_CASE("tokens: stored hashed, verified, scoped and revocable", "[api][pg]") {
  test::TestDatabase db;
  auto c = db.connect();
  store::add_account(c, "biz-a", std::nullopt);
  const auto t = store::create_token(c, "biz-a", "ci");
  CHECK(t.secret_token.rfind("wac_" + t.token.id + "_", 0) == 0);
  CHECK(t.secret_token.size() == 4 + 16 + 1 + 43);
  // Only the hash is in the database: the secret appears nowhere in the row.
  auto row = c.exec("row", "SELECT id, business_id, name, encode(token_hash, 'hex') FROM wa_api_tokens");
  REQUIRE(row.rows() == 1);
  for (int col = 0; col < 4; ++col) CHECK(t.secret_token.find(std::string(row.text(0, col))) == (col == 0 ? 4u : std::string::npos));
  CHECK(store::verify_token(c, t.secret_token) == std::optional<std::string>("biz-a"));
  CHECK_FALSE(store::verify_token(c, t.secret_token + "x"));
  CHECK_FALSE(store::verify_token(c, ""));
  CHECK_THROWS_AS(store::create_token(c, "nobody", ""), store::NotFound);
  CHECK_THROWS_AS(store::create_token(c, "biz-a", std::string(101, 'n')), store::StoreError);
  CHECK(store::list_tokens(c, "biz-a").size() == 1);
  CHECK(store::revoke_token(c, t.token.id));
  CHECK_FALSE(store::revoke_token(c, t.token.id));
  CHECK_FALSE(store::verify_token(c, t.secret_token));
  // Deleting the account takes its tokens with it.
  store::create_token(c, "biz-a", "");
  c.exec("delete", "DELETE FROM wa_accounts WHERE business_id = 'biz-a'");
  CHECK(store::list_tokens(c).empty());
}

TEST_CASE("tokens CLI: create prints the token once, list never shows it, revoke", "[api][pg]") {
  test::TestDatabase db;
  auto c = db.connect();
  store::add_account(c, "biz-a", std::nullopt);
  const std::string url = "--database-url '" + db.url() + "'";
  auto [code, out] = run("tokens create " + url + " --business-id biz-a --name deploy");
  REQUIRE(code == 0);
  const auto j = binary::parse_json(out);
  const auto token = j.find("token")->text;
  const auto id = j.find("id")->text;
  CHECK(store::verify_token(c, token) == std::optional<std::string>("biz-a"));

  std::tie(code, out) = run("tokens list " + url);
  CHECK(code == 0);
  CHECK(out.find(id) != std::string::npos);
  CHECK(out.find("deploy") != std::string::npos);
  CHECK(out.find(token.substr(21)) == std::string::npos);  // the secret part never

  std::tie(code, out) = run("tokens create " + url + " --business-id nobody");
  CHECK(code == 2);
  CHECK(out.find("not registered") != std::string::npos);

  std::tie(code, out) = run("tokens revoke " + url + " --id " + id);
  CHECK(code == 0);
  CHECK_FALSE(store::verify_token(c, token));
  std::tie(code, out) = run("tokens revoke " + url + " --id " + id);
  CHECK(code == 2);
}
