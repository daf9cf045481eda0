// A database per tenant, the application interface's side (issue 13): for an account registered with
// its own database, the REST message endpoints (send, status, inbox), the SSE stream, webhooks (the
// endpoints, the events their triggers write in the tenant database, and the leader's sender), the
// outbox gauge's per-account counts and `accounts remove` all use the tenant database, and a send
// wakes the leaders through the control database at once. A plain account next to it keeps using
// the control database. Two real databases, the /v1 routes on a local server, no pods.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "app/api/event_stream.h"
#include "app/api/routes.h"
#include "app/api/webhook_sender.h"
#include "app/http_server.h"
#include "app/status_json.h"
#include "common/metrics.h"
#include "core/binary/json.h"
#include "store/accounts.h"
#include "store/connection_pool.h"
#include "store/errors.h"
#include "store/fenced_write.h"
#include "store/inbox.h"
#include "store/notify.h"
#include "store/notify_hub.h"
#include "store/outbox.h"
#include "store/tenants.h"
#include "store/tokens.h"
#include "tests/api/sse_client.h"
#include "tests/app/http_client.h"
#include "tests/store/test_db.h"

using namespace wa;
using namespace std::chrono_literals;

namespace {

std::int64_t count(pg::Connection& c, const char* sql) {
  return c.exec("test: count", sql).i64(0, 0);
}

bool eventually(const std::function<bool()>& f, std::chrono::milliseconds limit = 10s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return f();
}

app::HttpHandlers probes(Metrics& metrics) {
  app::HttpHandlers h;
  h.live = [] { return true; };
  const app::PodStatus pod{.pod = "pod-0",
                           .version = "0.1.0",
                           .db_reachable = true,
                           .db_writable = true,
                           .elector_running = true,
                           .accounts = {},
                           .share = {}};
  h.ready = [pod] { return app::evaluate_ready(pod); };
  h.status_json = [pod] { return app::render_status_json(pod); };
  h.metrics = &metrics;
  return h;
}

}  // namespace

TEST_CASE("tenant api: messages, inbox, events, webhooks and removal of a tenant account use its database",
          "[pg][tenant]") {
  test::TestDatabase control;
  test::TestDatabase tenant(false);  // migrated by add_tenant_account
  auto cc = control.connect("control");
  auto tc = tenant.connect("tenant");
  store::add_tenant_account(cc, tc, {"acme", tenant.url(), std::nullopt}, std::nullopt);
  store::add_account(cc, "plain", std::nullopt);
  const auto token = store::create_token(cc, "acme", "t").secret_token;
  const auto plain_token = store::create_token(cc, "plain", "p").secret_token;
  const std::string auth = "Authorization: Bearer " + token + "\r\n";

  auto pool = std::make_shared<store::ConnectionPool>(control.url(), "test/api", 4);
  auto tenants = std::make_shared<store::TenantLeases>(pool);
  const auto data_pool = [tenants](const std::string& b) { return tenants->data_pool(b); };
  store::NotifyHub hub(store::NotifyHubOptions{control.url(), "test/notify"});
  std::atomic<int> woken{0};
  auto sub = hub.subscribe(std::string(store::kOutboxChannel), [&](const store::Notice& n) {
    if (!n.reconnected && n.payload == "acme") woken++;
  });
  REQUIRE(eventually([&] { return hub.connected(); }));

  Metrics metrics;
  app::api::EventStreamOptions so;
  so.heartbeat = 300ms;
  so.poll = 300ms;
  so.data_pool = data_pool;
  auto events = std::make_shared<app::api::EventStreams>(hub, pool, so);
  app::HttpServer server("127.0.0.1", 0, probes(metrics), {});
  app::api::register_api_routes(server, std::make_shared<const app::api::Api>(
                                            pool, "admin-token-0123456789abcdefghijklmn", events, data_pool));
  const auto call = [&](const std::string& method, const std::string& target, const std::string& body = {},
                        const std::string& who = {}) {
    std::string h = who.empty() ? auth : who;
    if (!body.empty()) h += "Content-Type: application/json\r\n";
    return test::http_request(server.port(), method, target, body, h);
  };

  // Send: the row is queued in the tenant database, and the leaders are woken on the control one.
  auto r = call("POST", "/v1/accounts/acme/messages", R"({"to":"15550001111@s.whatsapp.net","text":"hi"})");
  INFO(r.body);
  REQUIRE(r.status == 202);
  const auto id = binary::parse_json(r.body).find("id")->text;
  CHECK(count(tc, "SELECT count(*) FROM wa_outbox") == 1);
  CHECK(count(cc, "SELECT count(*) FROM wa_outbox") == 0);
  CHECK(eventually([&] { return woken.load() >= 1; }));
  r = call("GET", "/v1/accounts/acme/messages/" + id);
  CHECK(r.status == 200);
  CHECK(binary::parse_json(r.body).find("status")->text == "queued");
  // The plain account next to it stays in the control database.
  r = test::http_request(server.port(), "POST", "/v1/accounts/plain/messages",
                         R"({"to":"15550001111@s.whatsapp.net","text":"x"})",
                         "Authorization: Bearer " + plain_token + "\r\nContent-Type: application/json\r\n");
  CHECK(r.status == 202);
  CHECK(count(cc, "SELECT count(*) FROM wa_outbox") == 1);
  CHECK(count(tc, "SELECT count(*) FROM wa_outbox") == 1);

  // The outbox gauge counts a tenant account's rows in its own database.
  const auto in_tenants = tenants->tenant_pools({"acme", "plain"});
  REQUIRE(in_tenants.size() == 1);
  REQUIRE(in_tenants.count("acme") == 1);
  CHECK(in_tenants.at("acme")->with(
            [](pg::Connection& c) { return store::count_unacked_outbox(c, {"acme"}); }) == 1);

  // A webhook endpoint of the tenant account is registered in its database.
  std::mutex mu;
  std::vector<std::string> received;
  app::HttpServer receiver("127.0.0.1", 0, probes(metrics), {});
  receiver.add_route("POST", "/hook", [&](const app::HttpRequest& q) {
    std::lock_guard lk(mu);
    received.push_back(q.body);
    app::HttpResponse ok;
    ok.status = 204;
    return ok;
  });
  r = call("POST", "/v1/accounts/acme/webhooks",
           R"({"url":"http://127.0.0.1:)" + std::to_string(receiver.port()) +
               R"(/hook","events":["message.received"]})");
  INFO(r.body);
  REQUIRE(r.status == 201);
  CHECK(count(tc, "SELECT count(*) FROM wa_webhooks") == 1);
  CHECK(count(cc, "SELECT count(*) FROM wa_webhooks") == 0);
  CHECK(call("GET", "/v1/accounts/acme/webhooks").body.find("/hook") != std::string::npos);

  // An SSE stream of the account, opened before the message arrives, reads the tenant's events.
  test::SseClient sse(server.port(), "/v1/accounts/acme/events", auth);
  REQUIRE(sse.status() == 200);

  // A leader stores a received message in the tenant database (epoch copied there at its lease).
  const auto epoch = store::begin_lease(cc, "acme", "pod-0").epoch;
  store::copy_lease_epoch(tc, "acme", epoch);
  {
    pg::TenantScope scope(tc, "acme");
    pg::Transaction tx(tc, "insert");
    store::InboxMessage m;
    m.id = "IN1";
    m.chat = "15550001111@s.whatsapp.net";
    m.sender = "15550001111:3@s.whatsapp.net";
    m.text = "hello tenant";
    m.server_ts = 1700000000;
    const std::string ct = "ct1";
    m.ciphertext_hash = store::ciphertext_hash(reinterpret_cast<const std::uint8_t*>(ct.data()), ct.size());
    REQUIRE(store::insert_inbox(tc, "acme", m));
    tx.commit();
  }
  CHECK(count(cc, "SELECT count(*) FROM wa_events WHERE type = 'message.received'") == 0);
  r = call("GET", "/v1/accounts/acme/inbox");
  CHECK(r.status == 200);
  CHECK(r.body.find("hello tenant") != std::string::npos);
  // The leader's webhook sender delivers it from the tenant database.
  app::api::WebhookSenderOptions wo;
  wo.jitter = 0;
  wo.poll_interval = 100ms;
  wo.request_timeout = 2000ms;
  std::atomic<std::int64_t> pending{-1};
  wo.on_pending = [&](std::int64_t n) { pending = n; };
  wo.tenant_pools = [tenants](const std::vector<std::string>& ids) { return tenants->tenant_pools(ids); };
  wo.tenant_round = [](const store::WriteFence& f, store::ConnectionPool& ctl, store::ConnectionPool& ten) {
    ctl.with([&](pg::Connection& c) {
      ten.with([&](pg::Connection& t) { store::relay_account_events(c, t, f); });
    });
  };
  auto fence = std::make_shared<const store::WriteFence>("acme", epoch);
  {
    app::api::WebhookSender sender(
        hub, pool, [&] { return std::vector<std::shared_ptr<const store::WriteFence>>{fence}; }, wo);
    // The backlog gauge comes with the next round's claim (deliveries are sent in parallel).
    REQUIRE(eventually([&] { return sender.delivered() == 1 && pending.load() == 0; }));
  }
  {
    std::lock_guard lk(mu);
    REQUIRE(received.size() == 1);
    CHECK(received[0].find("hello tenant") != std::string::npos);
  }
  CHECK(count(tc, "SELECT count(*) FROM wa_webhook_deliveries WHERE state = 'delivered'") == 1);
  // The lease's account.leader event, written in the control database, was relayed with its id
  // (the epoch copy itself wrote none in the tenant database); once only.
  CHECK(count(tc, "SELECT count(*) FROM wa_events WHERE type = 'account.leader'") == 1);
  const auto leader_id =
      cc.exec("test", "SELECT id FROM wa_events WHERE business_id = 'acme' AND type = 'account.leader'");
  REQUIRE(leader_id.rows() == 1);
  CHECK(count(tc, ("SELECT count(*) FROM wa_events WHERE id = '" + std::string(leader_id.text(0, 0)) + "'")
                      .c_str()) == 1);
  CHECK(store::relay_account_events(cc, tc, *fence) == 0);
  // The SSE stream, opened before both, carries the tenant's message event and the relayed one.
  bool got_message = false, got_leader = false;
  for (int i = 0; i < 10 && !(got_message && got_leader); ++i) {
    const auto ev = sse.next(3s);
    if (!ev) break;
    if (ev->event == "message.received") got_message = ev->data.find("hello tenant") != std::string::npos;
    if (ev->event == "account.leader") got_leader = ev->id == leader_id.text(0, 0);
  }
  CHECK(got_message);
  CHECK(got_leader);
  // A stale leader relays nothing.
  const auto newer = store::begin_lease(cc, "acme", "pod-1").epoch;
  store::copy_lease_epoch(tc, "acme", newer);
  CHECK_THROWS_AS(store::relay_account_events(cc, tc, *fence), store::EpochMoved);
  CHECK(store::relay_account_events(cc, tc, store::WriteFence("acme", newer)) == 1);
  sse.close();

  // accounts remove: the tenant's rows go with the shadow row; the plain account is untouched.
  CHECK(store::remove_tenant_account(tc, "acme"));
  for (const char* table :
       {"wa_outbox", "wa_inbox", "wa_events", "wa_webhooks", "wa_webhook_deliveries", "wa_accounts"}) {
    INFO(table);
    CHECK(count(tc, (std::string("SELECT count(*) FROM ") + table).c_str()) == 0);
  }
  CHECK_FALSE(store::remove_tenant_account(tc, "acme"));
  CHECK(count(cc, "SELECT count(*) FROM wa_outbox") == 1);
}
