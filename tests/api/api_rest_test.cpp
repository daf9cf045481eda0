// The REST endpoints over real sockets and a real PostgreSQL: auth, idempotent sends, the inbox
// cursor, accounts, QR/pair codes behind the token, limits and error shapes.
#include <set>
#include <string>

#include <catch2/catch.hpp>

#include "api_support.h"
#include "core/binary/json.h"
#include "store/inbox.h"
#include "store/pg.h"
#include "store/tokens.h"

using wa::binary::Json;
using wa::binary::parse_json;
using wa::test::ApiFixture;

namespace {

std::string field(const std::string& body, const char* name) {
  const auto j = parse_json(body);
  const auto* v = j.find(name);
  REQUIRE(v != nullptr);
  return v->text;
}

std::string error_code(const std::string& body) {
  const auto j = parse_json(body);
  const auto* e = j.find("error");
  REQUIRE(e != nullptr);
  REQUIRE(e->find("code") != nullptr);
  REQUIRE(e->find("message") != nullptr);
  return e->find("code")->text;
}

const std::string kSend = R"({"to":"15551234567@s.whatsapp.net","text":"hello"})";

}  // namespace

TEST_CASE("api: missing, wrong and foreign tokens", "[api][pg]") {
  ApiFixture f;
  auto r = f.call("GET", "/v1/accounts/biz-a");
  CHECK(r.status == 401);
  CHECK(r.headers["www-authenticate"] == "Bearer");
  CHECK(error_code(r.body) == "unauthorized");
  CHECK(f.call("GET", "/v1/accounts/biz-a", "", "wac_0000000000000000_" + std::string(43, 'A')).status == 401);
  CHECK(f.call("GET", "/v1/accounts/biz-a", "", "nonsense").status == 401);
  CHECK(f.call("GET", "/v1/accounts/biz-a", "", {}, "Authorization: Basic abc\r\n").status == 401);
  // A token with one character changed is refused (the hash comparison sees the whole token).
  auto bad = f.token_a;
  bad.back() = bad.back() == 'A' ? 'B' : 'A';
  CHECK(f.call("GET", "/v1/accounts/biz-a", "", bad).status == 401);

  CHECK(f.call("GET", "/v1/accounts/biz-a", "", f.token_a).status == 200);
  // Another business, a registered one and an unknown one: the same 403, byte for byte.
  const auto other = f.call("GET", "/v1/accounts/biz-b", "", f.token_a);
  const auto unknown = f.call("GET", "/v1/accounts/no-such-biz", "", f.token_a);
  const auto malformed = f.call("GET", "/v1/accounts/bad%20id", "", f.token_a);
  CHECK(other.status == 403);
  CHECK(unknown.status == 403);
  CHECK(malformed.status == 403);
  CHECK(other.body == unknown.body);
  CHECK(other.body == malformed.body);
  CHECK(f.call("POST", "/v1/accounts/biz-b/messages", kSend, f.token_a).status == 403);
  // The admin sees the truth.
  CHECK(f.call("GET", "/v1/accounts/no-such-biz", "", f.admin).status == 404);
  CHECK(f.call("GET", "/v1/accounts/biz-b", "", f.admin).status == 200);

  // A revoked token stops working at once.
  auto c = f.db.connect();
  const auto id = wa::store::token_id(f.token_b);
  REQUIRE(id);
  REQUIRE(wa::store::revoke_token(c, *id));
  CHECK(f.call("GET", "/v1/accounts/biz-b", "", f.token_b).status == 401);
}

TEST_CASE("api: idempotent sends and message status", "[api][pg]") {
  ApiFixture f;
  auto r = f.call("POST", "/v1/accounts/biz-a/messages", kSend, f.token_a, "Idempotency-Key: order-1\r\n");
  REQUIRE(r.status == 202);
  const auto id = field(r.body, "id");
  CHECK(field(r.body, "status") == "queued");
  CHECK(r.headers["location"] == "/v1/accounts/biz-a/messages/" + id);

  // The same key and body again (a client retry): the same id, nothing new queued.
  r = f.call("POST", "/v1/accounts/biz-a/messages", kSend, f.token_a, "Idempotency-Key: order-1\r\n");
  CHECK(r.status == 202);
  CHECK(field(r.body, "id") == id);
  CHECK(r.headers["idempotent-replayed"] == "true");
  // The same key with another body: 422, nothing queued.
  r = f.call("POST", "/v1/accounts/biz-a/messages", R"({"to":"15551234567@s.whatsapp.net","text":"other"})",
             f.token_a, "Idempotency-Key: order-1\r\n");
  CHECK(r.status == 422);
  CHECK(error_code(r.body) == "idempotency_key_reused");
  // Keys are per business: biz-b may use the same key for its own message.
  r = f.call("POST", "/v1/accounts/biz-b/messages", kSend, f.token_b, "Idempotency-Key: order-1\r\n");
  CHECK(r.status == 202);
  CHECK(field(r.body, "id") != id);
  // Without a key every POST is a new message.
  const auto a1 = f.call("POST", "/v1/accounts/biz-a/messages", kSend, f.token_a);
  const auto a2 = f.call("POST", "/v1/accounts/biz-a/messages", kSend, f.token_a);
  CHECK(field(a1.body, "id") != field(a2.body, "id"));
  auto c = f.db.connect();
  CHECK(c.exec("count", "SELECT count(*) FROM wa_outbox WHERE business_id = 'biz-a'").i64(0, 0) == 3);

  r = f.call("GET", "/v1/accounts/biz-a/messages/" + id, "", f.token_a);
  REQUIRE(r.status == 200);
  CHECK(field(r.body, "id") == id);
  CHECK(field(r.body, "to") == "15551234567@s.whatsapp.net");
  CHECK(field(r.body, "status") == "queued");
  CHECK(field(r.body, "updated_at").size() == 24);
  CHECK(f.call("GET", "/v1/accounts/biz-a/messages/3EB0NOPE", "", f.token_a).status == 404);
  CHECK(f.call("GET", "/v1/accounts/biz-a/messages/bad*id", "", f.token_a).status == 400);
  // biz-b cannot read biz-a's message, even knowing its id.
  CHECK(f.call("GET", "/v1/accounts/biz-a/messages/" + id, "", f.token_b).status == 403);
  CHECK(f.call("GET", "/v1/accounts/biz-b/messages/" + id, "", f.token_b).status == 404);
}

TEST_CASE("api: bad input gets a clear 400, 413 or 405", "[api][pg]") {
  ApiFixture f;
  const std::string p = "/v1/accounts/biz-a/messages";
  auto r = f.call("POST", p, "{\"to\":", f.token_a);
  CHECK(r.status == 400);
  CHECK(error_code(r.body) == "malformed_json");
  CHECK(f.call("POST", p, R"({"to":1,"text":"x"})", f.token_a).status == 400);
  CHECK(error_code(f.call("POST", p, R"({"to":"1@s.whatsapp.net","text":"x","x":1})", f.token_a).body) ==
        "unknown_field");
  CHECK(error_code(f.call("POST", p, R"({"to":"1@s.whatsapp.net","text":"x","reply_to":"AB"})", f.token_a).body) ==
        "invalid_field");
  CHECK(f.call("POST", p, kSend, f.token_a, "Idempotency-Key: has space\r\n").status == 400);
  r = f.call("POST", p, R"({"to":"1@s.whatsapp.net","text":")" + std::string(400 * 1024, 'a') + "\"}", f.token_a);
  CHECK(r.status == 413);
  CHECK(error_code(r.body) == "payload_too_large");
  r = f.call("DELETE", p, "", f.token_a);
  CHECK(r.status == 405);
  CHECK(r.headers["allow"] == "POST");
  CHECK(f.call("GET", "/v1/accounts/biz-a/nothing", "", f.token_a).status == 404);
  CHECK(f.call("GET", "/v1/other", "", f.token_a).status == 404);
  auto c = f.db.connect();
  CHECK(c.exec("count", "SELECT count(*) FROM wa_outbox").i64(0, 0) == 0);
}

TEST_CASE("api: civetweb's own refusals are JSON too", "[api][pg]") {
  ApiFixture f;
  auto r = wa::test::http_raw(f.server->port(), "GET /v1/accounts HTTP/9.9\r\n\r\n");
  CHECK(r.status >= 400);
  CHECK(r.headers["content-type"] == "application/json");
  CHECK_NOTHROW(error_code(r.body));
  r = wa::test::http_raw(f.server->port(), "GET /v1/accounts HTTP/1.1\r\nX: " + std::string(9000, 'a') + "\r\n\r\n");
  CHECK(r.status >= 400);
  CHECK(r.headers["content-type"] == "application/json");
  CHECK_NOTHROW(error_code(r.body));
  // A garbage request line, and a body with neither Content-Length nor chunked encoding.
  for (const std::string raw : {std::string("\x01\x02 nonsense\r\n\r\n"),
                                std::string("POST /v1/accounts/biz-a/messages HTTP/1.1\r\nHost: x\r\n"
                                            "Transfer-Encoding: gzip\r\n\r\n{}")}) {
    r = wa::test::http_raw(f.server->port(), raw);
    INFO(r.status << " " << r.body);
    CHECK(r.status == 400);  // civetweb's refusal (the API would say 401: no token)
    CHECK(r.headers["content-type"] == "application/json");
    CHECK_NOTHROW(error_code(r.body));
  }
}

TEST_CASE("api: the inbox cursor pages without gaps or repeats", "[api][pg]") {
  ApiFixture f;
  auto c = f.db.connect();
  const auto add = [&](int i) {
    wa::pg::Transaction tx(c, "insert");
    wa::store::InboxMessage m;
    m.id = "MSG" + std::to_string(i);
    m.chat = "15550000001@s.whatsapp.net";
    m.sender = "15550000001:2@s.whatsapp.net";
    m.text = "text " + std::to_string(i);
    m.server_ts = 1700000000 + i;
    const std::string data = "ciphertext " + std::to_string(i);
    m.ciphertext_hash = wa::store::ciphertext_hash(reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
    REQUIRE(wa::store::insert_inbox(c, "biz-a", m));
    tx.commit();
  };
  for (int i = 0; i < 5; ++i) add(i);

  std::vector<std::string> seen;
  std::string cursor = "0";
  for (int page = 0; page < 10; ++page) {
    auto r = f.call("GET", "/v1/accounts/biz-a/inbox?after=" + cursor + "&limit=2", "", f.token_a);
    REQUIRE(r.status == 200);
    const auto j = parse_json(r.body);
    const auto& msgs = j.find("messages")->items;
    for (const auto& m : msgs) {
      seen.push_back(m.find("id")->text);
      CHECK(m.find("from")->text == "15550000001@s.whatsapp.net");  // the device is dropped
    }
    const auto next = j.find("next")->text;
    if (msgs.empty()) {
      CHECK(next == cursor);  // an empty page keeps the cursor
      if (seen.size() == 5) {
        add(5);  // arrivals after the end show up from the same cursor
        continue;
      }
      break;
    }
    cursor = next;
  }
  CHECK(seen == std::vector<std::string>{"MSG0", "MSG1", "MSG2", "MSG3", "MSG4", "MSG5"});
  CHECK(f.call("GET", "/v1/accounts/biz-a/inbox?after=-1", "", f.token_a).status == 400);
  CHECK(f.call("GET", "/v1/accounts/biz-a/inbox?limit=0", "", f.token_a).status == 400);
  CHECK(f.call("GET", "/v1/accounts/biz-a/inbox?limit=501", "", f.token_a).status == 400);
  // biz-b's inbox is its own: empty.
  auto r = f.call("GET", "/v1/accounts/biz-b/inbox", "", f.token_b);
  CHECK(parse_json(r.body).find("messages")->items.empty());
}

TEST_CASE("api: accounts, QR and pair codes", "[api][pg]") {
  ApiFixture f;
  auto r = f.call("POST", "/v1/accounts", R"({"business_id":"biz-new"})", f.admin);
  REQUIRE(r.status == 201);
  CHECK(field(r.body, "business_id") == "biz-new");
  CHECK(field(r.body, "status") == "disconnected");
  CHECK(f.call("POST", "/v1/accounts", R"({"business_id":"biz-new"})", f.admin).status == 409);
  CHECK(f.call("POST", "/v1/accounts", R"({"business_id":"biz-x"})", f.token_a).status == 403);
  CHECK(f.call("POST", "/v1/accounts", R"({"business_id":"bad id"})", f.admin).status == 400);
  r = f.call("GET", "/v1/accounts", "", f.admin);
  CHECK(parse_json(r.body).find("accounts")->items.size() == 3);
  CHECK(f.call("GET", "/v1/accounts", "", f.token_a).status == 403);

  r = f.call("GET", "/v1/accounts/biz-a", "", f.token_a);
  CHECK(field(r.body, "epoch") == "0");

  CHECK(f.call("GET", "/v1/accounts/biz-a/qr").status == 401);
  r = f.call("GET", "/v1/accounts/biz-a/qr", "", f.token_a);
  CHECK(r.status == 404);
  CHECK(error_code(r.body) == "not_pairing");

  r = f.call("POST", "/v1/accounts/biz-a/pair-code", R"({"phone":"+1 555 123 4567"})", f.token_a);
  REQUIRE(r.status == 202);
  const auto id = field(r.body, "id");
  r = f.call("GET", "/v1/accounts/biz-a/pair-code/" + id, "", f.token_a);
  CHECK(r.status == 200);
  CHECK(field(r.body, "state") == "pending");
  CHECK(f.call("GET", "/v1/accounts/biz-b/pair-code/" + id, "", f.token_b).status == 404);
  CHECK(f.call("POST", "/v1/accounts/biz-a/pair-code", R"({"phone":"12"})", f.token_a).status == 400);
}

TEST_CASE("api: reply_to quotes a received or sent message of the account", "[api][pg]") {
  ApiFixture f;
  auto c = f.db.connect();
  {
    wa::pg::Transaction tx(c, "insert");
    wa::store::InboxMessage m;
    m.id = "QUOTED1";
    m.chat = "15550000001@s.whatsapp.net";
    m.sender = "15550000001:2@s.whatsapp.net";
    m.text = "the question";
    m.server_ts = 1700000000;
    const std::string data = "ciphertext q";
    m.ciphertext_hash = wa::store::ciphertext_hash(reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
    REQUIRE(wa::store::insert_inbox(c, "biz-a", m));
    tx.commit();
  }
  const std::string reply = R"({"to":"15550000001@s.whatsapp.net","text":"the answer","reply_to":"QUOTED1"})";
  const auto r = f.call("POST", "/v1/accounts/biz-a/messages", reply, f.token_a, "Idempotency-Key: r1\r\n");
  REQUIRE(r.status == 202);
  const auto id = field(r.body, "id");
  auto row = c.exec("row", "SELECT reply_to, reply_to_sender, reply_to_text FROM wa_outbox WHERE id = $1", {id});
  CHECK(row.text(0, 0) == "QUOTED1");
  CHECK(row.text(0, 1) == "15550000001@s.whatsapp.net");  // the author without the device
  CHECK(row.text(0, 2) == "the question");
  const auto got = f.call("GET", "/v1/accounts/biz-a/messages/" + id, "", f.token_a);
  CHECK(field(got.body, "reply_to") == "QUOTED1");
  // The same key with another reply_to is another request.
  const auto other = f.call("POST", "/v1/accounts/biz-a/messages",
                            R"({"to":"15550000001@s.whatsapp.net","text":"the answer","reply_to":")" + id + "\"}",
                            f.token_a, "Idempotency-Key: r1\r\n");
  CHECK(other.status == 422);
  // Our own sent message can be quoted too (author: the account's JID, once paired).
  c.exec("jid", "UPDATE wa_accounts SET jid = '15559990000:7@s.whatsapp.net' WHERE business_id = 'biz-a'");
  const auto own = f.call("POST", "/v1/accounts/biz-a/messages",
                          R"({"to":"15550000001@s.whatsapp.net","text":"more","reply_to":")" + id + "\"}", f.token_a);
  REQUIRE(own.status == 202);
  row = c.exec("row", "SELECT reply_to_sender, reply_to_text FROM wa_outbox WHERE id = $1", {field(own.body, "id")});
  CHECK(row.text(0, 0) == "15559990000@s.whatsapp.net");
  CHECK(row.text(0, 1) == "the answer");
  // Unknown, or another business's message: refused, nothing queued.
  const auto bad = f.call("POST", "/v1/accounts/biz-a/messages",
                          R"({"to":"15550000001@s.whatsapp.net","text":"x","reply_to":"NOPE"})", f.token_a);
  CHECK(bad.status == 400);
  CHECK(error_code(bad.body) == "invalid_field");
  CHECK(c.exec("n", "SELECT count(*) FROM wa_outbox").i64(0, 0) == 2);
}
