// Webhook delivery across a pod's death: two `waconnector run` replicas (election only, no
// WhatsApp), a receiver that never answers the first request. The leader claims the delivery and
// POSTs it; it is SIGKILLed mid-request. The other pod takes the account over at once, but sends
// the delivery only once the dead pod's claim (its lease in PostgreSQL) ran out, under the same
// webhook-id, and exactly once more: no two pods POST it at the same time.
#include <csignal>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "holding_receiver.h"
#include "store/inbox.h"
#include "store/webhooks.h"
#include "support.h"

using namespace std::chrono_literals;

namespace {

using wa::hatest::Replica;
using wa::hatest::wait_for;

// The Standard Webhooks specification's example secret (the signature is tested in test_api).
constexpr const char* kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

void add_inbox(wa::pg::Connection& c, const std::string& business) {
  wa::pg::Transaction tx(c, "insert an inbox message");
  wa::store::InboxMessage m;
  m.id = "IN-FAILOVER";
  m.chat = m.sender = "15550000001@s.whatsapp.net";
  m.text = "hello";
  m.server_ts = 1700000000;
  m.ciphertext_hash = std::vector<std::uint8_t>(32, 9);
  REQUIRE(wa::store::insert_inbox(c, business, m));
  tx.commit();
}

}  // namespace

TEST_CASE("webhooks e2e: a pod killed mid-delivery - another pod sends it again under the same webhook-id after the "
          "claim's lease, never two at once",
          "[pg][e2e][api][webhooks]") {
  wa::hatest::TestDb db;
  db.add_account("acme");
  wa::test::HoldingReceiver rx({200, false, 1});  // the first request is never answered
  {
    auto c = db.connect("register the webhook");
    wa::store::create_webhook(c, "acme", rx.url(), {"message.received"}, kSecret);
  }
  // A claim lasts 2 s + 1 s: the survivor leads long before it runs out.
  const std::vector<std::string> args{"--database-url", db.url(), "--business-id", "acme", "--allow-rls-bypass",
                                      "--webhook-timeout", "2s"};
  std::vector<std::unique_ptr<Replica>> pods;
  for (int i = 0; i < 2; ++i) pods.push_back(std::make_unique<Replica>(fmt::format("pod-{}", i), args));
  std::optional<wa::store::HaEvent> first;
  REQUIRE(wait_for([&] { return (first = wa::hatest::last_gain(wa::hatest::events(db, "acme"))).has_value(); }, 20s));
  {
    auto c = db.connect("insert");
    add_inbox(c, "acme");
  }
  REQUIRE(wait_for([&] { return rx.requests().size() == 1; }, 15s));
  auto* leader = pods[0]->pod() == first->pod ? pods[0].get() : pods[1].get();
  auto* survivor = leader == pods[0].get() ? pods[1].get() : pods[0].get();
  leader->signal(SIGKILL);
  REQUIRE(leader->wait_exit(5s));
  const auto killed = std::chrono::steady_clock::now();
  // The survivor takes the account over (the dead session's lock is gone at once).
  std::optional<wa::store::HaEvent> next;
  REQUIRE(wait_for(
      [&] {
        next = wa::hatest::last_gain(wa::hatest::events(db, "acme"));
        return next && next->pod == survivor->pod();
      },
      15s));
  const auto took_over = std::chrono::steady_clock::now();
  REQUIRE(wait_for([&] { return rx.requests().size() == 2; }, 15s));
  const auto reqs = rx.requests();
  WARN("kill -> takeover " << std::chrono::duration_cast<std::chrono::milliseconds>(took_over - killed).count()
                           << " ms; first attempt -> second "
                           << std::chrono::duration_cast<std::chrono::milliseconds>(reqs[1].arrived - reqs[0].arrived).count()
                           << " ms (claim lease 3 s)");
  CHECK(reqs[1].headers.at("webhook-id") == reqs[0].headers.at("webhook-id"));
  CHECK(reqs[1].body == reqs[0].body);
  // Not before the dead pod's claim ran out (3 s from the claim, which came just before the
  // first request arrived), although the survivor led well before.
  CHECK(reqs[1].arrived - reqs[0].arrived >= 2800ms);
  CHECK(took_over < reqs[1].arrived);
  auto c = db.connect("check");
  REQUIRE(wait_for(
      [&] {
        return c.exec("state", "SELECT state FROM wa_webhook_deliveries").text(0, 0) == std::string_view("delivered");
      },
      10s));
  // Two claims in all, and the survivor's attempt recorded the answer.
  CHECK(c.exec("attempts", "SELECT attempts FROM wa_webhook_deliveries").i64(0, 0) == 2);
  CHECK(survivor->log().find("\"outcome\":\"delivered\"") != std::string::npos);
  std::this_thread::sleep_for(500ms);
  CHECK(rx.requests().size() == 2);
}
