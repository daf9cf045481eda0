// Webhooks: Standard Webhooks signing, URL and body checks, events written by triggers in the
// transaction of their cause, and the leader's sender against a local receiver (retries keep the
// event id, signatures verify, 410 disables, an exhausted schedule dead-letters, a stale fence
// sends nothing).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <libpq-fe.h>

#include "api_support.h"
#include "holding_receiver.h"
#include "app/api/request_json.h"
#include "app/api/webhook_http.h"
#include "app/api/webhook_sender.h"
#include "app/api/webhook_sign.h"
#include "core/binary/json.h"
#include "store/accounts.h"
#include "store/connection_pool.h"
#include "store/inbox.h"
#include "store/notify.h"
#include "store/webhooks.h"

using namespace std::chrono_literals;
using namespace wa::app::api;
using wa::binary::parse_json;

namespace {

// A receiver on 127.0.0.1: answers each POST with the next status of its script (the last one
// repeats; 0 = never answer) and records the requests.
class Receiver {
 public:
  using Request = wa::test::HttpRequest;
  explicit Receiver(std::vector<int> script) : script_(std::move(script)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~Receiver() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook?x=1"; }
  std::vector<Request> requests() {
    std::lock_guard lk(mu_);
    return requests_;
  }

 private:
  void run() {
    std::vector<int> hung;
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      wa::test::HttpRequest r;
      wa::test::read_http_request(c, std::chrono::seconds(2), r);
      int status;
      {
        std::lock_guard lk(mu_);
        requests_.push_back(r);
        status = script_[std::min(requests_.size() - 1, script_.size() - 1)];
      }
      if (status == 0) {
        hung.push_back(c);  // never answered: the sender's deadline must end it
        continue;
      }
      const auto resp = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      [[maybe_unused]] auto n = ::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
      ::close(c);
    }
    for (int c : hung) ::close(c);
  }

  std::vector<int> script_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Request> requests_;
  std::thread thread_;
};

bool eventually(const std::function<bool()>& f, std::chrono::milliseconds limit = 10s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return f();
}

void add_inbox(wa::pg::Connection& c, const std::string& business, int i) {
  wa::pg::Transaction tx(c, "insert");
  wa::store::InboxMessage m;
  m.id = "IN" + std::to_string(i);
  m.chat = "15550000001@s.whatsapp.net";
  m.sender = "15550000001:3@s.whatsapp.net";
  m.text = "hello " + std::to_string(i);
  m.server_ts = 1700000000 + i;
  const auto data = "ct" + std::to_string(i);
  m.ciphertext_hash = wa::store::ciphertext_hash(reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
  REQUIRE(wa::store::insert_inbox(c, business, m));
  tx.commit();
}

std::string add_hook(wa::test::ApiFixture& f, const std::string& business, const std::string& token,
                     const std::string& url) {
  const auto r = f.call("POST", "/v1/accounts/" + business + "/webhooks", R"({"url":")" + url + R"(","events":["*"]})",
                        token);
  REQUIRE(r.status == 201);
  return parse_json(r.body).find("id")->text;
}

using Fences = std::vector<std::shared_ptr<const wa::store::WriteFence>>;

WebhookSenderOptions fast(std::vector<std::chrono::milliseconds> schedule) {
  WebhookSenderOptions o;
  o.schedule = std::move(schedule);
  o.jitter = 0;
  o.poll_interval = 100ms;
  o.request_timeout = 500ms;
  return o;
}

WebhookSenderOptions parallel(int per_pod, int per_endpoint, std::chrono::milliseconds timeout) {
  auto o = fast({0ms, 200ms});
  o.concurrency = per_pod;
  o.endpoint_concurrency = per_endpoint;
  o.request_timeout = timeout;
  return o;
}

}  // namespace

TEST_CASE("webhooks: Standard Webhooks signature and secrets", "[api][webhooks]") {
  // The example of the Standard Webhooks specification (also checked with Python's hmac module).
  CHECK(sign_webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                     R"({"test": 2432232314})") == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  const auto s = generate_webhook_secret();
  CHECK(s.rfind("whsec_", 0) == 0);
  CHECK(validate_webhook_secret(s).empty());
  CHECK(sign_webhook(s, "a", 1, "b") != sign_webhook(generate_webhook_secret(), "a", 1, "b"));
  CHECK_FALSE(validate_webhook_secret("whsec_short").empty());
  CHECK_FALSE(validate_webhook_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").empty());
  CHECK_FALSE(validate_webhook_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!").empty());
  CHECK_THROWS_AS(sign_webhook("nope", "a", 1, "b"), std::invalid_argument);
}

TEST_CASE("webhooks: URL and registration body checks", "[api][webhooks]") {
  auto u = parse_webhook_url("https://hooks.example.com/in?k=v");
  REQUIRE(u);
  CHECK(u->tls);
  CHECK(u->port == 443);
  CHECK(u->target == "/in?k=v");
  u = parse_webhook_url("http://[::1]:8081");
  REQUIRE(u);
  CHECK(u->host == "::1");
  CHECK(u->port == 8081);
  CHECK(u->target == "/");
  for (const char* bad : {"ftp://x/", "http://", "http://u:p@h/", "http://h:0/", "http://h:99999/", "http://h/#f",
                          "http://h/ a", "https://h:x/"})
    CHECK_FALSE(parse_webhook_url(bad));
  auto b = parse_webhook(R"({"url":"https://h/x","events":["message.received","*"]})");
  REQUIRE(std::holds_alternative<WebhookBody>(b));
  CHECK(std::get<WebhookBody>(b).events.size() == 2);
  CHECK(std::holds_alternative<RequestError>(parse_webhook(R"({"url":"https://h/x","events":[]})")));
  CHECK(std::holds_alternative<RequestError>(parse_webhook(R"({"url":"https://h/x","events":["nope"]})")));
  CHECK(std::holds_alternative<RequestError>(parse_webhook(R"({"url":"https://h/x","events":["*","*"]})")));
  CHECK(std::holds_alternative<RequestError>(parse_webhook(R"({"url":"gopher://h","events":["*"]})")));
  CHECK(std::holds_alternative<RequestError>(parse_webhook(R"({"url":"https://h/x","events":["*"],"secret":"x"})")));
}

TEST_CASE("webhooks: events and deliveries are written in the transaction of their cause", "[api][webhooks][pg]") {
  wa::test::ApiFixture f;
  auto r = f.call("POST", "/v1/accounts/biz-a/webhooks", R"({"url":"http://127.0.0.1:9/x","events":["message.received"]})",
                  f.token_a);
  REQUIRE(r.status == 201);
  const auto hook = parse_json(r.body).find("id")->text;
  CHECK(parse_json(r.body).find("secret")->text.rfind("whsec_", 0) == 0);
  // A listing never shows the secret.
  r = f.call("GET", "/v1/accounts/biz-a/webhooks", "", f.token_a);
  CHECK(r.body.find("whsec_") == std::string::npos);
  CHECK(f.call("GET", "/v1/accounts/biz-a/webhooks/" + hook, "", f.token_b).status == 403);

  auto c = f.db.connect();
  add_inbox(c, "biz-a", 1);
  add_inbox(c, "biz-b", 2);  // biz-b has no webhook: an event, no delivery
  {
    // A rolled-back insert leaves neither an event nor a delivery.
    wa::pg::Transaction tx(c, "rolled back");
    wa::store::InboxMessage m;
    m.id = "GONE";
    m.chat = m.sender = "1@s.whatsapp.net";
    m.text = "x";
    m.ciphertext_hash = std::vector<std::uint8_t>(32, 7);
    REQUIRE(wa::store::insert_inbox(c, "biz-a", m));
  }
  auto ev = c.exec("events", "SELECT business_id, type, data->>'id', data->>'from', data->>'cursor' FROM wa_events"
                             " WHERE type = 'message.received' ORDER BY seq");
  REQUIRE(ev.rows() == 2);
  CHECK(ev.text(0, 2) == "IN1");
  CHECK(ev.text(0, 3) == "15550000001@s.whatsapp.net");
  CHECK(ev.text(0, 4) == "1");
  CHECK(c.exec("n", "SELECT count(*) FROM wa_webhook_deliveries").i64(0, 0) == 1);
  r = f.call("GET", "/v1/accounts/biz-a/webhooks/" + hook + "/deliveries", "", f.token_a);
  REQUIRE(r.status == 200);
  const auto ds = parse_json(r.body).find("deliveries")->items;
  REQUIRE(ds.size() == 1);
  CHECK(ds[0].find("state")->text == "pending");
  CHECK(ds[0].find("event_type")->text == "message.received");

  // Status changes of the outbox and the account are events too (types not subscribed: no delivery).
  c.exec("status", "UPDATE wa_accounts SET status = 'connected' WHERE business_id = 'biz-a'");
  c.exec("lease", "UPDATE wa_accounts SET lease_epoch = lease_epoch + 1, assigned_pod = 'pod-1' WHERE business_id = 'biz-a'");
  CHECK(c.exec("n", "SELECT count(*) FROM wa_events WHERE business_id = 'biz-a' AND type = 'account.status'").i64(0, 0) == 1);
  auto lead = c.exec("n", "SELECT data->>'new_pod', data->>'epoch' FROM wa_events WHERE type = 'account.leader'");
  REQUIRE(lead.rows() == 1);
  CHECK(lead.text(0, 0) == "pod-1");
  CHECK(lead.text(0, 1) == "1");
  CHECK(c.exec("n", "SELECT count(*) FROM wa_webhook_deliveries").i64(0, 0) == 1);

  CHECK(f.call("DELETE", "/v1/accounts/biz-a/webhooks/" + hook, "", f.token_a).status == 204);
  CHECK(f.call("GET", "/v1/accounts/biz-a/webhooks/" + hook, "", f.token_a).status == 404);
  CHECK(c.exec("n", "SELECT count(*) FROM wa_webhook_deliveries").i64(0, 0) == 0);
}

TEST_CASE("webhooks: the sender retries with the same event id and a valid signature", "[api][webhooks][pg]") {
  wa::test::ApiFixture f;
  Receiver rx({500, 200});
  const std::string secret = generate_webhook_secret();
  auto r = f.call("POST", "/v1/accounts/biz-a/webhooks",
                  R"({"url":")" + rx.url() + R"(","events":["*"],"secret":")" + secret + "\"}", f.token_a);
  REQUIRE(r.status == 201);
  const auto hook = parse_json(r.body).find("id")->text;
  auto c = f.db.connect();
  add_inbox(c, "biz-a", 1);

  auto fence = std::make_shared<const wa::store::WriteFence>("biz-a", 0);
  WebhookSender sender(*f.hub, f.pool, [&] { return std::vector<std::shared_ptr<const wa::store::WriteFence>>{fence}; },
                       fast({0ms, 200ms, 200ms}));
  REQUIRE(eventually([&] { return sender.delivered() == 1; }));
  const auto reqs = rx.requests();
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].headers.at("webhook-id") == reqs[1].headers.at("webhook-id"));
  CHECK(reqs[0].body == reqs[1].body);
  for (const auto& q : reqs) {
    const auto ts = std::stoll(q.headers.at("webhook-timestamp"));
    CHECK(std::abs(ts - static_cast<long long>(std::time(nullptr))) < 60);
    CHECK(q.headers.at("webhook-signature") == sign_webhook(secret, q.headers.at("webhook-id"), ts, q.body));
  }
  const auto env = parse_json(reqs[1].body);
  CHECK(env.find("type")->text == "message.received");
  CHECK(env.find("id")->text == reqs[1].headers.at("webhook-id"));
  CHECK(env.find("data")->find("text")->text == "hello 1");
  r = f.call("GET", "/v1/accounts/biz-a/webhooks/" + hook + "/deliveries", "", f.token_a);
  const auto d = parse_json(r.body).find("deliveries")->items.at(0);
  CHECK(d.find("state")->text == "delivered");
  CHECK(d.find("attempts")->text == "2");
  CHECK(d.find("last_status")->text == "200");

  // Redeliver: the same event id once more.
  r = f.call("POST", "/v1/accounts/biz-a/webhooks/" + hook + "/deliveries/" + d.find("id")->text + "/redeliver", "",
             f.token_a);
  CHECK(r.status == 202);
  REQUIRE(eventually([&] { return sender.delivered() == 2; }));
  CHECK(rx.requests().back().headers.at("webhook-id") == reqs[0].headers.at("webhook-id"));
}

TEST_CASE("webhooks: 410 disables, a hanging receiver times out, the schedule ends in a dead letter",
          "[api][webhooks][pg]") {
  wa::test::ApiFixture f;
  Receiver gone({410});
  Receiver hangs({0});
  auto c = f.db.connect();
  const auto add_hook = [&](const std::string& url) {
    const auto r = f.call("POST", "/v1/accounts/biz-a/webhooks", R"({"url":")" + url + R"(","events":["*"]})", f.token_a);
    REQUIRE(r.status == 201);
    return parse_json(r.body).find("id")->text;
  };
  const auto gone_id = add_hook(gone.url());
  const auto hang_id = add_hook(hangs.url());
  add_inbox(c, "biz-a", 1);

  // A fence of another epoch sends nothing.
  auto stale = std::make_shared<const wa::store::WriteFence>("biz-a", 7);
  {
    WebhookSender s(*f.hub, f.pool, [&] { return std::vector<std::shared_ptr<const wa::store::WriteFence>>{stale}; },
                    fast({0ms, 50ms}));
    std::this_thread::sleep_for(400ms);
  }
  CHECK(gone.requests().empty());
  CHECK(hangs.requests().empty());

  auto fence = std::make_shared<const wa::store::WriteFence>("biz-a", 0);
  const auto t0 = std::chrono::steady_clock::now();
  WebhookSender sender(*f.hub, f.pool, [&] { return std::vector<std::shared_ptr<const wa::store::WriteFence>>{fence}; },
                       fast({0ms, 50ms}));
  REQUIRE(eventually([&] { return sender.dead() == 2; }));
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);  // the hanging receiver cost its timeouts only
  CHECK(gone.requests().size() == 1);
  CHECK(hangs.requests().size() == 2);
  auto w = c.exec("w", "SELECT disabled_at IS NOT NULL FROM wa_webhooks WHERE id = $1", {gone_id});
  CHECK(w.boolean(0, 0));
  auto d = c.exec("d", "SELECT state, attempts, last_error FROM wa_webhook_deliveries WHERE webhook_id = $1", {hang_id});
  CHECK(d.text(0, 0) == "dead");
  CHECK(d.text(0, 1) == "2");
  CHECK(d.text(0, 2) == "timed out waiting for the answer");
  // A disabled endpoint gets no new deliveries.
  add_inbox(c, "biz-a", 2);
  CHECK(c.exec("n", "SELECT count(*) FROM wa_webhook_deliveries WHERE webhook_id = $1", {gone_id}).i64(0, 0) == 1);
}

TEST_CASE("webhooks: a new delivery wakes the sender's channel, and the leader prunes old events",
          "[api][webhooks][pg]") {
  wa::test::ApiFixture f;
  auto listener = f.db.connect("listener");
  wa::store::listen(listener, wa::store::kWebhookChannel);
  REQUIRE(f.call("POST", "/v1/accounts/biz-a/webhooks", R"({"url":"http://127.0.0.1:9/x","events":["*"]})", f.token_a)
              .status == 201);
  auto c = f.db.connect();
  add_inbox(c, "biz-a", 1);  // a delivery: NOTIFY
  CHECK(wa::store::wait_for_notify(listener, 5000ms));
  add_inbox(c, "biz-b", 2);  // no endpoint, no delivery: no NOTIFY
  CHECK_FALSE(wa::store::wait_for_notify(listener, 300ms));

  c.exec("age", "UPDATE wa_events SET created_at = now() - interval '8 days'");
  const wa::store::WriteFence a("biz-a", 0);
  // biz-a's event still has a pending delivery: kept. Once dead, it goes (with its delivery).
  CHECK(wa::store::prune_events(c, a, 7LL * 24 * 3600 * 1000) == 0);
  c.exec("dead", "UPDATE wa_webhook_deliveries SET state = 'dead'");
  CHECK(wa::store::prune_events(c, a, 7LL * 24 * 3600 * 1000) == 1);
  CHECK(c.exec("n", "SELECT count(*) FROM wa_webhook_deliveries").i64(0, 0) == 0);
  CHECK(c.exec("n", "SELECT count(*) FROM wa_events WHERE business_id = 'biz-b'").i64(0, 0) == 1);  // not its leader
  CHECK_THROWS_AS(wa::store::prune_events(c, wa::store::WriteFence("biz-b", 3), 0), wa::store::EpochMoved);
}

TEST_CASE("webhooks: during a secret rotation both signatures are sent, space-separated", "[api][webhooks][pg]") {
  wa::test::ApiFixture f;
  Receiver rx({200, 200, 200});
  const std::string old_secret = generate_webhook_secret();
  auto r = f.call("POST", "/v1/accounts/biz-a/webhooks",
                  R"({"url":")" + rx.url() + R"(","events":["*"],"secret":")" + old_secret + "\"}", f.token_a);
  REQUIRE(r.status == 201);
  const auto base = "/v1/accounts/biz-a/webhooks/" + parse_json(r.body).find("id")->text;
  // Refusals first: bad fields change nothing.
  CHECK(f.call("POST", base + "/rotate-secret", R"({"secret":"nope"})", f.token_a).status == 400);
  CHECK(f.call("POST", base + "/rotate-secret", R"({"overlap_seconds":-1})", f.token_a).status == 400);
  CHECK(f.call("POST", base + "/rotate-secret", R"({"overlap_seconds":999999999})", f.token_a).status == 400);
  CHECK(f.call("POST", "/v1/accounts/biz-a/webhooks/wh_0000000000000000/rotate-secret", "", f.token_a).status == 404);
  CHECK(f.call("POST", base + "/rotate-secret", "", f.token_b).status == 403);

  r = f.call("POST", base + "/rotate-secret", "", f.token_a);  // defaults: a new secret, 24 h overlap
  REQUIRE(r.status == 200);
  const auto rotated = parse_json(r.body);
  const auto new_secret = rotated.find("secret")->text;
  CHECK(new_secret != old_secret);
  CHECK(validate_webhook_secret(new_secret).empty());
  REQUIRE(rotated.find("previous_secret_expires_at") != nullptr);

  auto c = f.db.connect();
  add_inbox(c, "biz-a", 1);
  auto fence = std::make_shared<const wa::store::WriteFence>("biz-a", 0);
  WebhookSender sender(*f.hub, f.pool, [&] { return std::vector<std::shared_ptr<const wa::store::WriteFence>>{fence}; },
                       fast({0ms, 200ms}));
  REQUIRE(eventually([&] { return sender.delivered() == 1; }));
  auto q = rx.requests().back();
  auto ts = std::stoll(q.headers.at("webhook-timestamp"));
  const auto id = q.headers.at("webhook-id");
  // A receiver with either secret verifies: both signatures are in the header.
  CHECK(q.headers.at("webhook-signature") ==
        sign_webhook(new_secret, id, ts, q.body) + " " + sign_webhook(old_secret, id, ts, q.body));

  // A rotation without overlap: only the newest secret signs.
  const std::string newest = generate_webhook_secret();
  r = f.call("POST", base + "/rotate-secret", R"({"secret":")" + newest + R"(","overlap_seconds":0})", f.token_a);
  REQUIRE(r.status == 200);
  CHECK(parse_json(r.body).find("secret")->text == newest);
  add_inbox(c, "biz-a", 2);
  REQUIRE(eventually([&] { return sender.delivered() == 2; }));
  q = rx.requests().back();
  ts = std::stoll(q.headers.at("webhook-timestamp"));
  CHECK(q.headers.at("webhook-signature") == sign_webhook(newest, q.headers.at("webhook-id"), ts, q.body));
}

TEST_CASE("webhooks: deliveries to one endpoint run in parallel, never more than its bound at once",
          "[api][webhooks][pg]") {
  wa::test::ApiFixture f;
  wa::test::HoldingReceiver rx({200, true, 0});
  add_hook(f, "biz-a", f.token_a, rx.url());
  auto c = f.db.connect();
  for (int i = 1; i <= 12; ++i) add_inbox(c, "biz-a", i);
  auto fence = std::make_shared<const wa::store::WriteFence>("biz-a", 0);
  WebhookSender sender(*f.hub, f.pool, [&] { return Fences{fence}; }, parallel(32, 3, 5s));
  // The receiver holds every answer: the sender fills the endpoint's 3 slots and no more, through
  // the polls and wake-ups meanwhile.
  REQUIRE(eventually([&] { return rx.in_flight() == 3; }));
  std::this_thread::sleep_for(500ms);
  CHECK(rx.in_flight() == 3);
  CHECK(sender.in_flight() == 3);
  rx.release();
  REQUIRE(eventually([&] { return sender.delivered() == 12; }));
  CHECK(rx.max_in_flight() == 3);
  // Each event once, under its own id, with its own sequence number.
  std::set<std::string> ids, seqs;
  for (const auto& q : rx.requests()) {
    ids.insert(q.headers.at("webhook-id"));
    seqs.insert(parse_json(q.body).find("sequence")->text);
  }
  CHECK(rx.requests().size() == 12);
  CHECK(ids.size() == 12);
  CHECK(seqs.size() == 12);
  CHECK(c.exec("n", "SELECT count(*) FROM wa_webhook_deliveries WHERE state = 'delivered' AND attempts = 1").i64(0, 0) ==
        12);
}

TEST_CASE("webhooks: the pod's bound holds across endpoints and accounts, claimed together", "[api][webhooks][pg]") {
  wa::test::ApiFixture f;
  wa::test::HoldingReceiver a1({200, true, 0}), a2({200, true, 0}), b({200, true, 0});
  add_hook(f, "biz-a", f.token_a, a1.url());
  add_hook(f, "biz-a", f.token_a, a2.url());
  add_hook(f, "biz-b", f.token_b, b.url());
  auto c = f.db.connect();
  for (int i = 1; i <= 6; ++i) {
    add_inbox(c, "biz-a", i);       // a delivery to a1 and one to a2
    add_inbox(c, "biz-b", 100 + i);  // one to b
  }
  auto fa = std::make_shared<const wa::store::WriteFence>("biz-a", 0);
  auto fb = std::make_shared<const wa::store::WriteFence>("biz-b", 0);
  WebhookSender sender(*f.hub, f.pool, [&] { return Fences{fa, fb}; }, parallel(4, 3, 5s));
  const auto held = [&] { return a1.in_flight() + a2.in_flight() + b.in_flight(); };
  REQUIRE(eventually([&] { return held() == 4; }));
  std::this_thread::sleep_for(500ms);
  CHECK(held() == 4);
  CHECK(a1.max_in_flight() + a2.max_in_flight() + b.max_in_flight() == 4);
  for (auto* rx : {&a1, &a2, &b}) {
    CHECK(rx->max_in_flight() <= 3);
    rx->release();
  }
  REQUIRE(eventually([&] { return sender.delivered() == 18; }));
  CHECK(a1.requests().size() == 6);
  CHECK(a2.requests().size() == 6);
  CHECK(b.requests().size() == 6);
  CHECK(sender.in_flight() == 0);
}

TEST_CASE("webhooks: a hanging endpoint holds only its own slots, another endpoint is not delayed",
          "[api][webhooks][pg]") {
  wa::test::ApiFixture f;
  wa::test::HoldingReceiver hangs({200, false, 1000});  // never answers
  wa::test::HoldingReceiver quick({200, false, 0});
  add_hook(f, "biz-a", f.token_a, hangs.url());
  add_hook(f, "biz-a", f.token_a, quick.url());
  auto c = f.db.connect();
  for (int i = 1; i <= 10; ++i) add_inbox(c, "biz-a", i);
  auto fence = std::make_shared<const wa::store::WriteFence>("biz-a", 0);
  const auto t0 = std::chrono::steady_clock::now();
  WebhookSender sender(*f.hub, f.pool, [&] { return Fences{fence}; }, parallel(8, 2, 3s));
  // All 10 reach the quick endpoint before the hanging one's first attempts even time out (3 s).
  REQUIRE(eventually([&] { return sender.delivered() == 10; }, 2500ms));
  CHECK(std::chrono::steady_clock::now() - t0 < 2500ms);
  CHECK(quick.requests().size() == 10);
  CHECK(hangs.in_flight() == 2);
  CHECK(hangs.max_in_flight() == 2);
  CHECK(sender.failed_attempts() == 0);
}

TEST_CASE("webhooks: the sender's round is one statement per database, not one per account or endpoint",
          "[api][webhooks][pg]") {
  wa::test::ApiFixture f;
  auto c = f.db.connect();
  Fences fences;
  for (int i = 0; i < 20; ++i) {  // 20 led accounts, an endpoint each, nothing due
    const auto b = "biz-n" + std::to_string(i);
    wa::store::add_account(c, b, std::nullopt);
    wa::store::create_webhook(c, b, "http://127.0.0.1:9/x", {"*"}, generate_webhook_secret());
    fences.push_back(std::make_shared<const wa::store::WriteFence>(b, 0));
  }
  // libpq's trace of the sender's only connection: every round trip it makes is a Sync (extended
  // protocol) or a Query (simple protocol) message from the client.
  const auto path = "/tmp/waconn-webhook-trace-" + std::to_string(::getpid()) + ".txt";
  std::FILE* trace = std::fopen(path.c_str(), "w");
  REQUIRE(trace != nullptr);
  std::atomic<int> rounds{0};
  {
    wa::store::PoolOptions po;
    po.url = f.db.url();
    po.application_name = "test/sender";
    po.size = 1;
    po.on_open = [&](wa::pg::Connection& pc) {
      PQtrace(pc.raw(), trace);
      PQsetTraceFlags(pc.raw(), PQTRACE_SUPPRESS_TIMESTAMPS);
    };
    auto pool = std::make_shared<wa::store::ConnectionPool>(po);
    auto o = fast({0ms});
    o.poll_interval = 50ms;
    o.on_pending = [&](std::int64_t) { rounds++; };  // every polled round counts the backlog once
    WebhookSender sender(*f.hub, pool, [&] { return fences; }, o);
    std::this_thread::sleep_for(1500ms);
  }  // the sender, then the pool and its connection are gone
  std::fclose(trace);
  std::ifstream in(path);
  int trips = 0;
  for (std::string line; std::getline(in, line);)
    if (line.rfind("F\t", 0) == 0 && (line.find("\tSync") != std::string::npos || line.find("\tQuery\t") != std::string::npos))
      trips++;
  std::remove(path.c_str());
  INFO(trips << " round trips in " << rounds.load() << " rounds for 20 accounts");
  CHECK(rounds.load() >= 5);
  // One per round, plus the first round's prune and a sweep when the hub connects (a round that
  // may come too soon after the first to count the backlog); one per account would be 20 a round.
  CHECK(trips >= rounds.load());
  CHECK(trips <= rounds.load() + 3);
}
