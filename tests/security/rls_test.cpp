// Row-level security (migration 0011, docs/security.md) tested as a pod connects: a login role that
// is a member of waconnector_app and owns nothing. The tables are enumerated from the catalog, so a
// table added later without its policy, its grants or a fixture row here fails these tests.
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "store/accounts.h"
#include "store/errors.h"
#include "store/fenced_write.h"
#include "store/ha_events.h"
#include "store/inbox.h"
#include "store/lid_map.h"
#include "store/outbox.h"
#include "store/pairing.h"
#include "store/pg.h"
#include "store/row_security.h"
#include "store/tokens.h"
#include "store/webhooks.h"
#include "tests/security/app_role.h"
#include "tests/store/test_db.h"

using namespace wa;

namespace {

// Every table of the schema that has a business_id column, from the catalog.
std::vector<std::string> business_tables(pg::Connection& c) {
  auto r =
      c.exec("list business tables",
             "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
             " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'business_id' AND NOT a.attisdropped"
             " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY 1");
  std::vector<std::string> out;
  for (int i = 0; i < r.rows(); ++i) out.emplace_back(r.text(i, 0));
  return out;
}

// One row per business in every business table, written as the owner. $1 = business id, $2 = 16
// hex digits of its own (ids unique across businesses). Triggers add wa_events and
// wa_webhook_deliveries rows. A new table needs a line here (the test says which).
const std::vector<const char*> kFixture = {
    "INSERT INTO wa_accounts (business_id, lock_key) VALUES ($1, wa_lock_key(NULL, $1))",
    "INSERT INTO wa_devices (business_id, noise_priv, identity_priv, signed_pre_key_id, signed_pre_key_priv,"
    " signed_pre_key_sig, registration_id, adv_secret, jid) VALUES ($1, decode(repeat('11', 32), 'hex'),"
    " decode(repeat('22', 32), 'hex'), 1, decode(repeat('33', 32), 'hex'), decode(repeat('44', 64), 'hex'), "
    "7,"
    " decode(repeat('55', 32), 'hex'), '1555' || length($1) || '@s.whatsapp.net')",
    "INSERT INTO wa_device_pre_keys (business_id, key_id, priv) VALUES ($1, 1, decode(repeat('66', 32), "
    "'hex'))",
    "INSERT INTO wa_pair_code_requests (business_id, phone) VALUES ($1, '15551234567')",
    "INSERT INTO wa_pairings (business_id, jid, epoch) VALUES ($1, 'x@s.whatsapp.net', 1)",
    "INSERT INTO wa_signal_sessions (business_id, our_jid, their_id, session) VALUES ($1, 'me', 'them:0', "
    "'\\x01')",
    "INSERT INTO wa_signal_identities (business_id, our_jid, their_id, identity)"
    " VALUES ($1, 'me', 'them:0', decode(repeat('77', 32), 'hex'))",
    "INSERT INTO wa_signal_sender_keys (business_id, our_jid, chat_id, sender_id, sender_key)"
    " VALUES ($1, 'me', 'g@g.us', 'them:0', '\\x02')",
    "INSERT INTO wa_sender_key_recipients (business_id, our_jid, chat_id, device) VALUES ($1, 'me', 'g@g.us', 'x:1')",
    "INSERT INTO wa_logout_requests (business_id) VALUES ($1)",
    "INSERT INTO wa_webhooks (id, business_id, url, events, secret)"
    " VALUES ('wh_' || $2, $1, 'https://example.invalid/hook', '{*}', 'whsec_' || $2)",
    "INSERT INTO wa_inbox_cursors (business_id, last_seq) VALUES ($1, 1)",
    "INSERT INTO wa_inbox (business_id, seq, id, chat, sender, message_type, text, server_ts, "
    "ciphertext_hash)"
    " VALUES ($1, 1, 'M1', 'c@s.whatsapp.net', 'c@s.whatsapp.net', 'text', 'secret of ' || $1, 1,"
    " sha256(convert_to($1, 'UTF8')))",
    "INSERT INTO wa_outbox (business_id, id, recipient, text) VALUES ($1, 'O1', 'c@s.whatsapp.net', 'hi')",
    "INSERT INTO wa_lid_map (business_id, lid, pn) VALUES ($1, '123', '456')",
    "INSERT INTO wa_api_tokens (id, business_id, token_hash) VALUES ($2, $1, sha256(convert_to($2, 'UTF8')))",
    "INSERT INTO ha_events (business_id, pod, kind) VALUES ($1, 'p-0', 'acquired')",
    "INSERT INTO wa_tenants (business_id, database_url) VALUES ($1, 'postgresql://tenant@db-' || $2 || '/t')",
};

void write_fixture(pg::Connection& owner, const std::string& business_id, const std::string& hex16) {
  pg::Transaction tx(owner, "fixture");
  for (const char* sql : kFixture) {
    std::vector<pg::Param> params{business_id};
    if (std::string_view(sql).find("$2") != std::string_view::npos) params.emplace_back(hex16);
    owner.exec("fixture row", sql, params);
  }
  tx.commit();
}

std::int64_t count(pg::Connection& c, const std::string& sql, const std::vector<pg::Param>& params = {}) {
  return c.exec("count", sql.c_str(), params).i64(0, 0);
}

// The SQLSTATE a statement failed with, or "" when it succeeded; `rows` gets the affected rows.
std::string try_exec(pg::Connection& c, const std::string& sql, std::int64_t* rows = nullptr) {
  try {
    auto r = c.exec("probe", sql.c_str());
    if (rows != nullptr) *rows = std::atoll(PQcmdTuples(r.get()));
    return "";
  } catch (const pg::Error& e) {
    return e.sqlstate().empty() ? "error" : e.sqlstate();
  }
}

// INSERT ... SELECT of the table's own visible row with business_id replaced: every column except
// the generated ones, so the row is otherwise valid.
std::string copy_row_as(pg::Connection& owner, const std::string& table, const std::string& other) {
  auto r = owner.exec("columns",
                      "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0"
                      " AND NOT attisdropped AND attidentity = '' AND attgenerated = '' ORDER BY attnum",
                      {table});
  std::string cols, vals;
  for (int i = 0; i < r.rows(); ++i) {
    const std::string col(r.text(i, 0));
    if (i > 0) {
      cols += ", ";
      vals += ", ";
    }
    cols += col;
    vals += col == "business_id" ? fmt::format("'{}'", other) : col;
  }
  return fmt::format("INSERT INTO {} ({}) SELECT {} FROM {} LIMIT 1", table, cols, vals, table);
}

}  // namespace

TEST_CASE("every business_id table has row-level security enabled, forced, with the tenant policy",
          "[pg][security]") {
  test::TestDatabase db;
  auto c = db.connect();
  const auto tables = business_tables(c);
  REQUIRE(tables.size() >= 15);
  for (const auto& t : tables) {
    INFO("table " << t);
    auto r =
        c.exec("rls flags",
               "SELECT relrowsecurity, relforcerowsecurity,"
               " (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = 'wa_tenant'),"
               " has_table_privilege('waconnector_app', c.oid, 'SELECT'),"
               " has_table_privilege('waconnector_app', c.oid, 'TRUNCATE')"
               " FROM pg_class c WHERE c.oid = $1::regclass",
               {t});
    CHECK(r.boolean(0, 0));
    CHECK(r.boolean(0, 1));
    CHECK(r.i64(0, 2) == 1);
    CHECK(r.boolean(0, 3));   // pods can use it
    CHECK(!r.boolean(0, 4));  // but not empty it
  }
}

TEST_CASE(
    "a waconnector_app role with one business's setting reads and writes none of another's rows in any table",
    "[pg][security]") {
  test::TestDatabase db;
  auto owner = db.connect();
  write_fixture(owner, "biz-a", "aaaaaaaaaaaaaaaa");
  write_fixture(owner, "biz-b", "bbbbbbbbbbbbbbbb");
  test::AppRole role;
  auto app = role.connect(db);

  for (const auto& t : business_tables(owner)) {
    INFO("table " << t);
    const auto a_rows = count(owner, fmt::format("SELECT count(*) FROM {} WHERE business_id = 'biz-a'", t));
    const auto b_rows = count(owner, fmt::format("SELECT count(*) FROM {} WHERE business_id = 'biz-b'", t));
    INFO("a table without fixture rows here cannot be checked: add it to kFixture");
    REQUIRE(a_rows > 0);
    REQUIRE(b_rows > 0);

    // No setting: nothing at all.
    CHECK(count(app, fmt::format("SELECT count(*) FROM {}", t)) == 0);

    pg::TenantScope scope(app, "biz-a");
    // A query that forgot its WHERE sees its own business only.
    CHECK(count(app, fmt::format("SELECT count(*) FROM {}", t)) == a_rows);
    CHECK(count(app, fmt::format("SELECT count(*) FROM {} WHERE business_id = 'biz-b'", t)) == 0);
    // Writes aimed at the other business touch nothing (or are not granted at all).
    for (const auto& verb :
         {fmt::format("UPDATE {} SET business_id = business_id WHERE business_id = 'biz-b'", t),
          fmt::format("DELETE FROM {} WHERE business_id = 'biz-b'", t)}) {
      INFO(verb);
      std::int64_t rows = -1;
      const auto state = try_exec(app, verb, &rows);
      CHECK((state == "42501" || (state.empty() && rows == 0)));
    }
    // A row written for, or moved to, the other business is refused by the policy's WITH CHECK.
    CHECK(try_exec(app, copy_row_as(owner, t, "biz-b")) == "42501");
    CHECK(try_exec(app, fmt::format("UPDATE {} SET business_id = 'biz-b' WHERE business_id = 'biz-a'", t)) ==
          "42501");
    CHECK(count(owner, fmt::format("SELECT count(*) FROM {} WHERE business_id = 'biz-b'", t)) == b_rows);
  }
  // Several businesses at once (a pod's batched reads of the accounts it leads).
  pg::TenantScope both(app, std::vector<std::string>{"biz-a", "biz-b"});
  CHECK(count(app, "SELECT count(*) FROM wa_accounts") == 2);
}

TEST_CASE("the app role cannot change the schema or switch row-level security off", "[pg][security]") {
  test::TestDatabase db;
  test::AppRole role;
  auto app = role.connect(db);
  CHECK(try_exec(app, "CREATE TABLE wa_x (id int)") == "42501");
  CHECK(try_exec(app, "ALTER TABLE wa_accounts DISABLE ROW LEVEL SECURITY") == "42501");
  CHECK(try_exec(app, "DROP POLICY wa_tenant ON wa_inbox") == "42501");
  CHECK(try_exec(app, "TRUNCATE wa_outbox") == "42501");
  // row_security = off does not lift the policies for such a role: the query fails instead.
  app.exec("turn row_security off", "SET row_security = off");
  CHECK(try_exec(app, "SELECT count(*) FROM wa_accounts") == "42501");
  app.exec("turn row_security on", "RESET row_security");
  const auto st = store::rls_status(app);
  CHECK(st.enforced);
  CHECK(st.app_member);
  CHECK(st.reason.empty());
  auto owner = db.connect();
  const auto su = store::rls_status(owner);
  CHECK(!su.enforced);
  CHECK(su.reason.find("superuser") != std::string::npos);
}

TEST_CASE("the store works for a waconnector_app role - each call sees only its business", "[pg][security]") {
  test::TestDatabase db;
  auto owner = db.connect();
  write_fixture(owner, "biz-b", "bbbbbbbbbbbbbbbb");
  test::AppRole role;
  auto app = role.connect(db);

  // The registry: adding, listing (ids through wa_account_ids), reading one.
  store::add_account(app, "biz-a", std::nullopt);
  const auto all = store::list_accounts(app);
  REQUIRE(all.size() == 2);
  CHECK(all[0].business_id == "biz-a");
  CHECK(all[1].business_id == "biz-b");
  CHECK(store::account_ids(app) == std::vector<std::string>{"biz-a", "biz-b"});
  REQUIRE(store::get_account(app, "biz-b"));
  // The collision check names the other business through its narrow function.
  owner.exec("pair biz-b", "UPDATE wa_accounts SET jid = '15554@s.whatsapp.net' WHERE business_id = 'biz-b'");
  CHECK_THROWS_AS(store::add_account(app, "biz-c", std::string("15554@s.whatsapp.net")),
                  store::AlreadyExists);

  // The lease and the account-row writes of a leader.
  const auto lease = store::begin_lease(app, "biz-a", "pod-0");
  CHECK(lease.epoch >= 1);
  store::set_status(app, "biz-a", lease.epoch, "connected");
  CHECK(store::get_account(app, "biz-a")->status == "connected");
  auto fence = std::make_shared<store::WriteFence>("biz-a", lease.epoch);
  store::record_event(app, "biz-a", "pod-0", store::EventKind::acquired, lease.epoch, std::nullopt, "");
  CHECK(store::list_events(app, std::string("biz-a")).size() == 1);
  CHECK(store::list_events(app).size() == 2);  // biz-b's fixture event too

  // Outbox, inbox and LID map, as the leader's client uses them.
  store::EnqueueRequest req;
  req.business_id = "biz-a";
  req.recipient = "15551230000@s.whatsapp.net";
  req.text = "hello";
  const auto q = store::enqueue(app, req);
  CHECK(q.created);
  CHECK(store::count_unacked_outbox(app, {"biz-a", "biz-b"}) == 2);
  const auto claimed = store::claim_outbox(app, *fence, 10);
  REQUIRE(claimed.size() == 1);
  CHECK(store::advance_outbox(app, *fence, claimed[0].id, "sent", std::nullopt));
  CHECK(store::find_outbox(app, "biz-a", claimed[0].id)->status == "sent");
  CHECK(!store::find_outbox(app, "biz-a", "O1"));  // biz-b's message id, invisible
  fence->write(app, "store a message", [&](pg::Connection& tx) {
    store::InboxMessage m;
    m.id = "IN1";
    m.chat = "15551230000@s.whatsapp.net";
    m.sender = m.chat;
    m.message_type = "text";
    m.text = "hi";
    m.server_ts = 1;
    m.ciphertext_hash = std::vector<std::uint8_t>(32, 9);
    CHECK(store::insert_inbox(tx, "biz-a", m) == 1);
    store::put_lid_mapping(tx, "biz-a", "999", "15551230000");
  });
  CHECK(store::list_inbox(app, "biz-a", 0, 10).size() == 1);
  CHECK(store::lid_for_pn(app, "biz-a", "15551230000") == std::optional<std::string>("999"));
  CHECK(!store::lid_for_pn(app, "biz-a", "456"));  // biz-b's pair

  // Pairing state and pair-code requests.
  CHECK(store::read_pairing_state(app, "biz-a")->status == "connected");
  const auto req_id = store::insert_pair_code_request(app, "biz-a", "15550001111", true);
  const auto pending = store::pending_pair_code_requests(app, {"biz-a", "biz-b"}, 60000);
  CHECK(pending.size() == 2);
  CHECK(store::answer_pair_code_request(app, *fence, req_id, "pod-0", "ABCDEFGH"));

  // API tokens (found by id before the business is known) and webhooks.
  const auto tok = store::create_token(app, "biz-a", "ci");
  CHECK(store::verify_token(app, tok.secret_token) == std::optional<std::string>("biz-a"));
  CHECK(store::list_tokens(app, "biz-a").size() == 1);
  CHECK(store::list_tokens(app).size() == 2);  // biz-b's fixture token too
  CHECK(store::revoke_token(app, tok.token.id));
  CHECK(!store::verify_token(app, tok.secret_token));
  const auto hook = store::create_webhook(app, "biz-a", "https://example.invalid/a", {"*"},
                                          "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2Vj");
  CHECK(store::list_webhooks(app, "biz-a").size() == 1);
  CHECK(store::get_webhook(app, "biz-a", hook.id));
  CHECK(!store::get_webhook(app, "biz-a", "wh_bbbbbbbbbbbbbbbb"));  // biz-b's

  // Nothing of biz-a's work landed in biz-b, and biz-b's rows are intact.
  CHECK(count(owner, "SELECT count(*) FROM wa_outbox WHERE business_id = 'biz-b'") == 1);
  CHECK(count(owner, "SELECT count(*) FROM wa_inbox WHERE business_id = 'biz-b'") == 1);
}
