// docs/openapi.yaml is valid OpenAPI 3.1 (checked by an npm validator) and every endpoint's live
// answers, successes and errors, match it. Needs `npm ci` in tests/api and WACONN_TEST_DATABASE_URL.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "api_support.h"
#include "sse_client.h"
#include "common/json_string.h"
#include "core/binary/json.h"

namespace fs = std::filesystem;

namespace {

fs::path source_dir() {
  if (const char* d = std::getenv("WACONN_SOURCE_DIR"); d != nullptr && *d != '\0') return d;
  return fs::path(__FILE__).parent_path().parent_path().parent_path();
}

std::pair<int, std::string> node_validate(const std::string& extra) {
  const auto dir = source_dir() / "tests" / "api";
  REQUIRE(fs::exists(dir / "node_modules"));  // run `npm ci` in tests/api
  std::string cmd = "cd '";
  cmd += dir.string();
  cmd += "' && '";
  cmd += WACONN_NODE_PATH;
  cmd += "' validate.mjs '";
  cmd += (source_dir() / "docs" / "openapi.yaml").string();
  cmd += "' ";
  cmd += extra;
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

std::string field(const std::string& body, const char* name) { return wa::binary::parse_json(body).find(name)->text; }

}  // namespace

TEST_CASE("openapi: the spec is valid OpenAPI 3.1", "[api][openapi]") {
  const auto [code, out] = node_validate("");
  INFO(out);
  CHECK(code == 0);
}

TEST_CASE("openapi: live answers of every endpoint match the spec", "[api][openapi][pg]") {
  wa::test::ApiFixture f;
  auto c = f.db.connect();
  c.exec("qr", "UPDATE wa_accounts SET qr_code = '2@abc,def', qr_expires_at = now() + interval '1 minute',"
               " status = 'qr_scanning' WHERE business_id = 'biz-b'");
  const std::string send = R"({"to":"15551234567@s.whatsapp.net","text":"hi"})";

  for (const char* p : {"/health", "/ready", "/status", "/metrics"}) CHECK(f.call("GET", p).status == 200);
  f.call("GET", "/v1/accounts", "", f.admin);
  f.call("GET", "/v1/accounts");
  f.call("GET", "/v1/accounts", "", f.token_a);
  f.call("POST", "/v1/accounts", R"({"business_id":"biz-c"})", f.admin);
  f.call("POST", "/v1/accounts", R"({"business_id":"biz-c"})", f.admin);
  f.call("POST", "/v1/accounts", R"({"business_id":1})", f.admin);
  f.call("POST", "/v1/accounts", "x", f.admin);
  f.call("GET", "/v1/accounts/biz-a", "", f.token_a);
  f.call("GET", "/v1/accounts/biz-b", "", f.token_a);
  f.call("GET", "/v1/accounts/nope", "", f.admin);
  f.call("GET", "/v1/accounts/bad*id", "", f.admin);
  const auto sent = f.call("POST", "/v1/accounts/biz-a/messages", send, f.token_a, "Idempotency-Key: k\r\n");
  f.call("POST", "/v1/accounts/biz-a/messages", send, f.token_a, "Idempotency-Key: k\r\n");
  f.call("POST", "/v1/accounts/biz-a/messages", R"({"to":"15551234567@s.whatsapp.net","text":"x"})", f.token_a,
         "Idempotency-Key: k\r\n");
  f.call("POST", "/v1/accounts/biz-a/messages", R"({"to":"bob","text":"x"})", f.token_a);
  f.call("POST", "/v1/accounts/biz-a/messages", std::string(310 * 1024, ' '), f.token_a);
  f.call("POST", "/v1/accounts/nope/messages", send, f.admin);
  f.call("DELETE", "/v1/accounts/biz-a/messages", "", f.token_a);
  f.call("GET", "/v1/accounts/biz-a/messages/" + field(sent.body, "id"), "", f.token_a);
  f.call("GET", "/v1/accounts/biz-a/messages/NOPE", "", f.token_a);
  f.call("GET", "/v1/accounts/biz-a/inbox?limit=2", "", f.token_a);
  f.call("GET", "/v1/accounts/biz-a/inbox?limit=x", "", f.token_a);
  f.call("GET", "/v1/accounts/biz-b/qr", "", f.token_b);
  f.call("GET", "/v1/accounts/biz-a/qr", "", f.token_a);
  f.call("GET", "/v1/accounts/biz-a/qr", "", f.token_a, "Accept: text/html\r\n");
  const auto pc = f.call("POST", "/v1/accounts/biz-a/pair-code", R"({"phone":"+15551234567"})", f.token_a);
  f.call("POST", "/v1/accounts/biz-a/pair-code", R"({"phone":true})", f.token_a);
  f.call("GET", "/v1/accounts/biz-a/pair-code/" + field(pc.body, "id"), "", f.token_a);
  c.exec("answer", "UPDATE wa_pair_code_requests SET state = 'answered', code = 'ABCD2345', answered_at = now()");
  f.call("GET", "/v1/accounts/biz-a/pair-code/" + field(pc.body, "id"), "", f.token_a);
  f.call("GET", "/v1/accounts/biz-a/pair-code/999", "", f.token_a);

  const auto hook = f.call("POST", "/v1/accounts/biz-a/webhooks",
                           R"({"url":"http://127.0.0.1:9/x","events":["message.received","*"]})", f.token_a);
  f.call("POST", "/v1/accounts/biz-a/webhooks", R"({"url":"ftp://x","events":["*"]})", f.token_a);
  const auto hook_id = field(hook.body, "id");
  const auto base = "/v1/accounts/biz-a/webhooks/" + hook_id;
  f.call("GET", "/v1/accounts/biz-a/webhooks", "", f.token_a);
  f.call("GET", base, "", f.token_a);
  f.call("GET", "/v1/accounts/biz-a/webhooks/wh_0000000000000000", "", f.token_a);
  c.exec("event", "UPDATE wa_accounts SET status = 'connected' WHERE business_id = 'biz-a'");
  const auto log = f.call("GET", base + "/deliveries", "", f.token_a);
  const auto did = wa::binary::parse_json(log.body).find("deliveries")->items.at(0).find("id")->text;
  f.call("POST", base + "/deliveries/" + did + "/redeliver", "", f.token_a);
  f.call("POST", base + "/deliveries/999999/redeliver", "", f.token_a);
  f.call("POST", base + "/rotate-secret", "", f.token_a);
  f.call("POST", base + "/rotate-secret", R"({"overlap_seconds":"1"})", f.token_a);
  f.call("POST", "/v1/accounts/biz-a/webhooks/wh_0000000000000000/rotate-secret", "", f.token_a);
  f.call("DELETE", base, "", f.token_a);
  f.call("DELETE", "/v1/accounts/biz-a/session", "", f.token_a);  // not paired: 409
  f.call("DELETE", "/v1/accounts/nope/session", "", f.admin);
  f.call("GET", "/v1/accounts/biz-a/events", "", f.token_b);

  // The event stream, recorded by hand (it does not end): its head and the events' data lines.
  const auto stream = [&](const std::string& headers) {
    wa::test::SseClient s(f.server->port(), "/v1/accounts/biz-a/events", "Authorization: Bearer " + f.token_a + "\r\n" + headers);
    std::string body = s.body();
    if (s.status() == 200) {
      c.exec("event", "UPDATE wa_accounts SET status = 'disconnected' WHERE business_id = 'biz-a'");
      const auto e = s.next(std::chrono::seconds(5));
      CHECK(e.has_value());
      if (e) body = "id: " + e->id + "\nevent: " + e->event + "\ndata: " + e->data + "\n\n";
    }
    f.recorded.push_back({"GET", "/v1/accounts/biz-a/events", s.status(), s.content_type(), body});
  };
  stream("");
  stream("Last-Event-ID: evt_00000000000000000000000000000000\r\n");

  std::string calls = "[";
  for (const auto& r : f.recorded) {
    if (calls.size() > 1) calls += ',';
    calls += "{\"method\":";
    wa::append_json_string(calls, r.method);
    calls += ",\"path\":";
    wa::append_json_string(calls, r.path);
    calls += ",\"status\":" + std::to_string(r.status) + ",\"content_type\":";
    wa::append_json_string(calls, r.content_type);
    calls += ",\"body\":";
    wa::append_json_string(calls, r.content_type.rfind("image/png", 0) == 0 ? "" : r.body);
    calls += '}';
  }
  calls += "]";
  const auto file = fs::temp_directory_path() / ("waconn-api-calls-" + f.db.name() + ".json");
  std::ofstream(file) << calls;
  std::string quoted = "'";
  quoted += file.string();
  quoted += "'";
  const auto [code, out] = node_validate(quoted);
  fs::remove(file);
  INFO(out);
  CHECK(code == 0);
}
