// waconnector keys generate|status|rotate|seal: the key-encryption keys and data keys that seal
// the key material at rest (store/sealing.h, docs/security.md).
#include <iostream>
#include <set>

#include <fmt/format.h>

#include "app/commands.h"
#include "app/config_check.h"
#include "app/flags.h"
#include "app/kek_file.h"
#include "store/pg.h"
#include "store/sealing.h"
#include "store/tenants.h"

namespace wa::app {
namespace {

constexpr const char* kUsage =
    "usage: waconnector keys SUBCOMMAND [flags]\n"
    "\n"
    "subcommands:\n"
    "  generate  print a new key-encryption key (one line of the --kek-file format)\n"
    "  status    list the data keys, the KEK wrapping each, and the rows sealed under each\n"
    "  rotate    re-wrap every data key under the FIRST key of --kek-file (online; any pod)\n"
    "  seal      seal every plain row (keys, webhook secrets) written before sealing existed; then plain\n"
    "            rows are refused\n";

FlagSpec database_url_flag() {
  return {"database-url", "DATABASE_URL", "PostgreSQL URL or conninfo", "", false, true};
}

pg::Connection connect(const Flags& f, const char* what) {
  const auto url = f.str("database-url");
  if (auto e = check_database_url(url); !e.empty()) throw ConfigError("--database-url: " + e);
  return pg::Connection::open(url, what, {{"application_name", std::string("waconnector/") + what}});
}

int keys_generate(int argc, char** argv) {
  Flags f("waconnector keys generate", "Print a new random key-encryption key (64 hex digits) to stdout.",
          {});
  if (!f.parse(argc, argv)) return 0;
  std::cout << store::KekRing::generate_line() << "\n";
  return 0;
}

int keys_status(int argc, char** argv) {
  Flags f("waconnector keys status", "List the data keys, their KEKs and the sealed rows per data key.",
          {database_url_flag(), kek_file_flag()});
  if (!f.parse(argc, argv)) return 0;
  auto conn = connect(f, "keys-status");
  std::optional<store::KekRing> ring;
  if (f.get("kek-file")) ring = load_kek_ring(f);
  auto r = conn.exec(
      "list the data keys",
      "SELECT id, kek_id, created_at::text, coalesce(rewrapped_at::text, '') FROM wa_data_keys ORDER BY id");
  for (int i = 0; i < r.rows(); ++i) {
    const std::string kek(r.text(i, 1));
    std::cout << fmt::format("data key {} wrapped by KEK {}{} (created {}{})\n", r.text(i, 0), kek,
                             !ring             ? ""
                             : ring->find(kek) ? " [in --kek-file]"
                                               : " [NOT in --kek-file]",
                             r.text(i, 2),
                             r.text(i, 3).empty() ? "" : ", re-wrapped " + std::string(r.text(i, 3)));
  }
  for (const auto& [id, n] : store::sealed_row_counts(conn))
    std::cout << fmt::format("{}: {} rows\n", id ? fmt::format("sealed under data key {}", *id) : "plain", n);
  return 0;
}

int keys_rotate(int argc, char** argv) {
  Flags f("waconnector keys rotate",
          "Re-wrap every data key under the first key of --kek-file. List the new KEK first and the old one "
          "after "
          "it; pods keep running (the data keys do not change, no sealed row is rewritten). Safe to run from "
          "several places at once.",
          {database_url_flag(),
           kek_file_flag(),
           {"new-data-key", "", "also add a data key: processes started afterwards seal new rows under it",
            "", true}});
  if (!f.parse(argc, argv)) return 0;
  const auto ring = load_kek_ring(f);
  auto conn = connect(f, "keys-rotate");
  try {
    if (f.boolean("new-data-key"))
      std::cout << fmt::format("added data key {}\n", store::add_data_key(conn, ring));
    const auto n = store::rewrap_data_keys(conn, ring);
    // Tenant databases hold copies of the wrapped data keys (store/tenants.h): re-wrapped too,
    // so a pod with only the new KEK opens their rows. (Each lease also copies them.)
    store::install_tenant_password_source();
    const auto tenant_list = store::tenant_databases(conn);
    store::register_tenant_passwords(tenant_list);
    std::set<std::string> synced;
    for (const auto& t : tenant_list) {
      if (!synced.insert(t.database_url).second) continue;
      auto tc = pg::Connection::open(t.database_url, "keys rotate: tenant database",
                                     {{"application_name", "waconnector/keys-rotate"}});
      const auto copied = store::sync_data_keys(conn, tc);
      std::cout << fmt::format("tenant database of business {}: {} data key(s) updated\n", t.business_id, copied);
    }
    // Proof: every data key now opens with the first KEK alone.
    store::KekRing only_primary = store::KekRing::parse(crypto::to_hex(ring.primary().key), ring.origin());
    store::Sealer check(only_primary);
    const auto total = check.verify(conn);
    std::cout << fmt::format("re-wrapped {} data key(s); all {} now wrapped by KEK {}\n", n, total,
                             ring.primary().id);
  } catch (const store::SealingError& e) {
    throw ConfigError(e.what());
  }
  return 0;
}

int keys_seal(int argc, char** argv) {
  Flags f("waconnector keys seal",
          "Seal every plain key row (written before sealing existed) under the current data key, then refuse "
          "plain "
          "rows. Safe while leaders write (each row is replaced only if it is still the plain value read).",
          {database_url_flag(), kek_file_flag()});
  if (!f.parse(argc, argv)) return 0;
  auto conn = connect(f, "keys-seal");
  auto sealer = std::make_shared<store::Sealer>(load_kek_ring(f));
  try {
    sealer->verify(conn);
    const auto n = store::seal_plain_rows(conn, *sealer);
    std::cout << fmt::format(
        "sealed {} device row(s), {} pre-key(s), {} session(s), {} sender key(s), {} webhook secret(s)\n",
        n.devices, n.pre_keys, n.sessions, n.sender_keys, n.webhooks);
  } catch (const store::SealingError& e) {
    throw ConfigError(e.what());
  }
  return 0;
}

}  // namespace

int cmd_keys(int argc, char** argv) {
  return dispatch_subcommand(
      "keys", kUsage, argc, argv,
      {{"generate", keys_generate}, {"status", keys_status}, {"rotate", keys_rotate}, {"seal", keys_seal}});
}

}  // namespace wa::app
