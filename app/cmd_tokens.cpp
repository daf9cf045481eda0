// waconnector tokens create|list|revoke: the API's bearer tokens (store/tokens.h). `create` prints
// the token once, as {"token": "..."}; only its hash is kept, so a lost token is revoked and
// replaced, never shown again.
#include <iostream>
#include <string>

#include <fmt/format.h>

#include "app/api/json_writer.h"
#include "app/cli_database.h"
#include "app/commands.h"
#include "app/flags.h"
#include "common/utc_time.h"
#include "store/accounts.h"
#include "store/pg.h"
#include "store/tokens.h"

namespace wa::app {
namespace {

constexpr const char* kTokensUsage =
    "usage: waconnector tokens SUBCOMMAND [flags]\n"
    "\n"
    "subcommands:\n"
    "  create   create an API token for a business; prints {\"token\": \"...\"} once\n"
    "           (--business-id ID [--name NAME])\n"
    "  list     list tokens (id, business, name, created, revoked), one JSON object per line\n"
    "           ([--business-id ID])\n"
    "  revoke   revoke a token by its id (--id ID)\n"
    "\n"
    "Run 'waconnector tokens SUBCOMMAND --help' for its flags.\n";

std::string iso(std::int64_t ms) {
  return fmt::format("{}.{:03}Z", format_utc(ms, "%Y-%m-%dT%H:%M:%S"), static_cast<int>(ms % 1000));
}

int tokens_create(int argc, char** argv) {
  Flags f("waconnector tokens create", "Create an API bearer token for one business (printed once).",
          {database_url_flag(),
           business_id_flag("the business the token may act for"),
           {"name", "", "a label for the token (up to 100 characters)", ""}});
  if (!f.parse(argc, argv)) return 0;
  const auto b = checked_business_id(f);
  const auto name = f.get("name").value_or("");
  auto conn = open_database(f, "tokens create", "tokens");
  store::CreatedToken t;
  try {
    t = store::create_token(conn, b, name);
  } catch (const store::StoreError& e) {
    throw ConfigError(e.what());
  }
  std::cout << api::JsonObject().str("token", t.secret_token).str("id", t.token.id).str("business_id", b).done()
            << "\n";
  return 0;
}

int tokens_list(int argc, char** argv) {
  Flags f("waconnector tokens list", "List API tokens (never their secrets), one JSON object per line.",
          {database_url_flag(), business_id_flag("only this business's tokens", false)});
  if (!f.parse(argc, argv)) return 0;
  const auto b = checked_business_id(f);
  auto conn = open_database(f, "tokens list", "tokens");
  for (const auto& t : store::list_tokens(conn, b)) {
    api::JsonObject o;
    o.str("id", t.id).str("business_id", t.business_id).str("name", t.name).str("created_at", iso(t.created_at_ms));
    if (t.revoked_at_ms)
      o.str("revoked_at", iso(*t.revoked_at_ms));
    else
      o.null("revoked_at");
    std::cout << o.done() << "\n";
  }
  return 0;
}

int tokens_revoke(int argc, char** argv) {
  Flags f("waconnector tokens revoke", "Revoke an API token: requests with it get 401 from then on.",
          {database_url_flag(), {"id", "", "the token's id (16 hex digits, as tokens list shows)", "", false, true}});
  if (!f.parse(argc, argv)) return 0;
  const auto id = f.str("id");
  auto conn = open_database(f, "tokens revoke", "tokens");
  if (!store::revoke_token(conn, id)) throw ConfigError(fmt::format("no active token with id {}", id));
  std::cout << api::JsonObject().str("id", id).boolean("revoked", true).done() << "\n";
  return 0;
}

}  // namespace

int cmd_tokens(int argc, char** argv) {
  return dispatch_subcommand("tokens", kTokensUsage, argc, argv,
                             {{"create", tokens_create}, {"list", tokens_list}, {"revoke", tokens_revoke}});
}

}  // namespace wa::app
