// GET /v1/accounts/{id}/events (Server-Sent Events) against a real PostgreSQL: events arrive live,
// a reconnect with Last-Event-ID gets exactly the missed ones, events of transactions that commit
// out of seq order are neither skipped nor repeated, the number of streams is bounded, heartbeats
// flow while idle, and a stopping server ends its streams.
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "api_support.h"
#include "core/binary/json.h"
#include "sse_client.h"

using namespace std::chrono_literals;

namespace {

const std::string kPath = "/v1/accounts/biz-a/events";

std::string bearer(const std::string& t) { return "Authorization: Bearer " + t + "\r\n"; }

// One event through the same function the triggers use; returns its id.
std::string emit(wa::pg::Connection& c, const std::string& business, int n) {
  auto r = c.exec("emit", "SELECT wa_emit_event($1, 'account.status', jsonb_build_object('status', $2::text))",
                  {business, "s" + std::to_string(n)});
  return std::string(
      c.exec("last", "SELECT id FROM wa_events WHERE business_id = $1 ORDER BY seq DESC LIMIT 1", {business})
          .text(0, 0));
}

std::vector<wa::test::SseEvent> take(wa::test::SseClient& s, std::size_t n, std::chrono::milliseconds each = 5s) {
  std::vector<wa::test::SseEvent> out;
  while (out.size() < n) {
    auto e = s.next(each);
    if (!e) break;
    out.push_back(*e);
  }
  return out;
}

}  // namespace

TEST_CASE("events: live, then resumed with Last-Event-ID without gaps or repeats", "[api][events][pg]") {
  wa::test::ApiFixture f;
  auto c = f.db.connect();
  emit(c, "biz-a", 0);  // before the stream: a new stream starts after it

  wa::test::SseClient s(f.server->port(), kPath, bearer(f.token_a));
  REQUIRE(s.status() == 200);
  CHECK(s.content_type() == "text/event-stream");
  std::vector<std::string> want;
  for (int i = 1; i <= 5; ++i) want.push_back(emit(c, "biz-a", i));
  emit(c, "biz-b", 99);  // another business's event never shows
  const auto got = take(s, 5);
  REQUIRE(got.size() == 5);
  std::int64_t last_seq = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].id == want[i]);
    CHECK(got[i].event == "account.status");
    const auto env = wa::binary::parse_json(got[i].data);
    CHECK(env.find("id")->text == want[i]);
    CHECK(env.find("business_id")->text == "biz-a");
    CHECK(env.find("data")->find("status")->text == "s" + std::to_string(i + 1));
    const auto seq = std::stoll(env.find("sequence")->text);
    CHECK(seq > last_seq);
    last_seq = seq;
  }
  s.close();

  // Missed while away: 9 (more than the fixture's batch of 4, so the catch-up reads in rounds).
  std::vector<std::string> missed;
  for (int i = 6; i <= 14; ++i) missed.push_back(emit(c, "biz-a", i));
  wa::test::SseClient r(f.server->port(), kPath, bearer(f.token_a) + "Last-Event-ID: " + got.back().id + "\r\n");
  REQUIRE(r.status() == 200);
  const auto again = take(r, missed.size());
  REQUIRE(again.size() == missed.size());
  for (std::size_t i = 0; i < missed.size(); ++i) CHECK(again[i].id == missed[i]);
  // Nothing else is pending; the next one arrives live.
  CHECK_FALSE(r.next(700ms).has_value());
  const auto live = emit(c, "biz-a", 15);
  const auto e = r.next(5s);
  REQUIRE(e.has_value());
  CHECK(e->id == live);
  CHECK(r.comments() >= 1);  // heartbeats while idle (300 ms in the fixture)
}

TEST_CASE("events: an event of a transaction that commits late is not skipped", "[api][events][pg]") {
  wa::test::ApiFixture f;
  auto c = f.db.connect();
  auto slow = f.db.connect("slow");
  wa::test::SseClient s(f.server->port(), kPath, bearer(f.token_a));
  REQUIRE(s.status() == 200);
  // `slow` takes the lower seq and commits after the others.
  slow.exec("begin", "BEGIN");
  const auto first = emit(slow, "biz-a", 1);
  const auto second = emit(c, "biz-a", 2);
  const auto third = emit(c, "biz-a", 3);
  CHECK_FALSE(s.next(1200ms).has_value());  // held back while an older transaction runs
  slow.exec("commit", "COMMIT");
  const auto got = take(s, 3);
  REQUIRE(got.size() == 3);
  std::set<std::string> ids;
  for (const auto& e : got) ids.insert(e.id);
  CHECK(ids == std::set<std::string>{first, second, third});
  CHECK_FALSE(s.next(700ms).has_value());
}

TEST_CASE("events: auth, bad Last-Event-ID, the stream cap and shutdown", "[api][events][pg]") {
  wa::test::ApiFixture f;
  auto c = f.db.connect();
  CHECK(wa::test::SseClient(f.server->port(), kPath, "").status() == 401);
  CHECK(wa::test::SseClient(f.server->port(), kPath, bearer(f.token_b)).status() == 403);
  CHECK(wa::test::SseClient(f.server->port(), "/v1/accounts/nope/events", bearer(f.admin)).status() == 404);
  {
    wa::test::SseClient bad(f.server->port(), kPath, bearer(f.token_a) + "Last-Event-ID: evt_nope\r\n");
    CHECK(bad.status() == 400);
    CHECK(bad.body().find("unknown_event_id") != std::string::npos);
  }
  // Another business's event id is unknown here too.
  const auto other = emit(c, "biz-b", 1);
  CHECK(wa::test::SseClient(f.server->port(), kPath, bearer(f.token_a) + "Last-Event-ID: " + other + "\r\n").status() ==
        400);

  std::vector<std::unique_ptr<wa::test::SseClient>> open;
  for (int i = 0; i < 3; ++i) {
    open.push_back(std::make_unique<wa::test::SseClient>(f.server->port(), kPath, bearer(f.token_a)));
    REQUIRE(open.back()->status() == 200);
  }
  wa::test::SseClient over(f.server->port(), kPath, bearer(f.token_a));
  CHECK(over.status() == 503);
  CHECK(over.body().find("too_many_streams") != std::string::npos);
  CHECK(over.head().find("Retry-After:") != std::string::npos);
  // Other API calls are still served meanwhile.
  CHECK(f.call("GET", "/v1/accounts/biz-a", "", f.token_a).status == 200);
  // A closed stream's slot comes back once its next write fails (heartbeat 300 ms).
  open.pop_back();
  bool reopened = false;
  for (int i = 0; i < 30 && !reopened; ++i) {
    std::this_thread::sleep_for(100ms);
    wa::test::SseClient again(f.server->port(), kPath, bearer(f.token_a));
    reopened = again.status() == 200;
  }
  CHECK(reopened);

  // Shutdown ends the open streams promptly.
  const auto t0 = std::chrono::steady_clock::now();
  f.server.reset();
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);
  for (auto& s : open) {
    while (s->next(2s)) {
    }
    CHECK(s->eof());
  }
}
