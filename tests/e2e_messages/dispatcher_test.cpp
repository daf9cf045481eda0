// ha::OutboxDispatcher against PostgreSQL: an enqueue anywhere wakes the led, logged-in
// connections at once through NOTIFY (long before the sweep), a connection that is not logged in
// is not woken, and the sweep alone also wakes (a NOTIFY missed while not listening). Only the
// accounts with rows to claim are woken (issue 10: an idle account costs no claim per sweep).
#include <atomic>
#include <mutex>

#include <catch2/catch.hpp>

#include "ha/outbox_dispatcher.h"
#include "store/connection_pool.h"
#include "store/notify_hub.h"
#include "store/outbox.h"
#include "support.h"

namespace wa::e2e {
namespace {

using namespace std::chrono_literals;

class CountingConnection : public core::Connection {
 public:
  explicit CountingConnection(core::ConnectionState s) : state_(s) {}
  void start() override {}
  void stop(core::DisconnectReason) override {}
  core::ConnectionState state() const override { return state_; }
  void outbox_ready() override { woken.fetch_add(1); }
  std::atomic<int> woken{0};

 private:
  core::ConnectionState state_;
};

void enqueue_one(const hatest::TestDb& db, const std::string& text) {
  auto conn = db.connect("enqueue");
  store::EnqueueRequest req;
  req.business_id = "acme";
  req.recipient = "15550001@s.whatsapp.net";
  req.text = text;
  store::enqueue(conn, req);
}

}  // namespace

TEST_CASE("outbox dispatcher: NOTIFY wakes logged-in led connections at once", "[pg][send]") {
  hatest::TestDb db;
  db.add_account("acme");
  auto on = std::make_shared<CountingConnection>(core::ConnectionState::logged_in);
  auto off = std::make_shared<CountingConnection>(core::ConnectionState::connecting);
  ha::OutboxDispatcherOptions o;
  o.sweep_interval = 60s;  // only a NOTIFY can wake within the test
  store::NotifyHub hub({db.url(), "test/notify"});
  ha::OutboxDispatcher d(hub, std::make_shared<store::ConnectionPool>(db.url(), "test/pool", 2), [&] {
    return std::vector<ha::LedConnection>{{"acme", 1, on}, {"acme", 1, off}};
  }, o);
  // The dispatcher listens once connected; enqueue until one wake-up (a first insert may beat LISTEN).
  REQUIRE(hatest::wait_for(
      [&] {
        enqueue_one(db, "hello");
        return hatest::wait_for([&] { return on->woken.load() > 0; }, 500ms);
      },
      10s));
  CHECK(d.notifications() >= 1);
  CHECK(off->woken.load() == 0);
  const int before = on->woken.load();
  enqueue_one(db, "again");
  REQUIRE(hatest::wait_for([&] { return on->woken.load() > before; }, 5s));
  d.stop();
}

TEST_CASE("outbox dispatcher: the sweep wakes without any NOTIFY", "[pg][send]") {
  hatest::TestDb db;
  db.add_account("acme");
  db.add_account("idle");
  // Queued before anything listens: its NOTIFY is lost, only the sweep can find the row.
  enqueue_one(db, "missed");
  auto on = std::make_shared<CountingConnection>(core::ConnectionState::logged_in);
  auto idle = std::make_shared<CountingConnection>(core::ConnectionState::logged_in);
  ha::OutboxDispatcherOptions o;
  o.sweep_interval = 100ms;
  std::atomic<std::int64_t> queued{-1};
  o.on_queued = [&](std::int64_t n) { queued = n; };
  store::NotifyHub hub({db.url(), "test/notify"});
  ha::OutboxDispatcher d(hub, std::make_shared<store::ConnectionPool>(db.url(), "test/pool", 2), [&] {
    return std::vector<ha::LedConnection>{{"acme", 1, on}, {"idle", 1, idle}};
  }, o);
  REQUIRE(hatest::wait_for([&] { return on->woken.load() >= 3; }, 5s));
  d.stop();
  CHECK(d.notifications() == 0);
  CHECK(d.rounds() >= 3);
  CHECK(queued.load() == 1);
  // Nothing queued for it: never woken, so it never claims (no query per idle account per sweep).
  CHECK(idle->woken.load() == 0);
}

TEST_CASE("outbox dispatcher: a row claimed under the current lease does not wake again", "[pg][send]") {
  hatest::TestDb db;
  db.add_account("acme");
  enqueue_one(db, "claimed");
  {
    auto c = db.connect("claim");
    c.exec("epoch", "UPDATE wa_accounts SET lease_epoch = 5 WHERE business_id = 'acme'");
    REQUIRE(store::claim_outbox(c, store::WriteFence("acme", 5), 10).size() == 1);
  }
  auto current = std::make_shared<CountingConnection>(core::ConnectionState::logged_in);
  ha::OutboxDispatcherOptions o;
  o.sweep_interval = 50ms;
  store::NotifyHub hub({db.url(), "test/notify"});
  std::int64_t epoch = 5;
  std::mutex mu;
  ha::OutboxDispatcher d(hub, std::make_shared<store::ConnectionPool>(db.url(), "test/pool", 2), [&] {
    std::lock_guard lk(mu);
    return std::vector<ha::LedConnection>{{"acme", epoch, current}};
  }, o);
  REQUIRE(hatest::wait_for([&] { return d.rounds() >= 5; }, 5s));
  CHECK(current->woken.load() == 0);
  // A newer lease (a takeover) must send it again: woken.
  {
    std::lock_guard lk(mu);
    epoch = 6;
  }
  REQUIRE(hatest::wait_for([&] { return current->woken.load() >= 1; }, 5s));
  d.stop();
}

}  // namespace wa::e2e
