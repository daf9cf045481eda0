// ha::OutboxDispatcher against PostgreSQL: an enqueue anywhere wakes the led, logged-in
// connections at once through NOTIFY (long before the sweep), a connection that is not logged in
// is not woken, and the sweep alone also wakes (a NOTIFY missed while not listening).
#include <atomic>

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
  ha::OutboxDispatcher d(hub, std::make_shared<store::ConnectionPool>(db.url(), "test/pool", 2), [&] { return std::vector<std::shared_ptr<core::Connection>>{on, off}; }, o);
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
  auto on = std::make_shared<CountingConnection>(core::ConnectionState::logged_in);
  ha::OutboxDispatcherOptions o;
  o.sweep_interval = 100ms;
  store::NotifyHub hub({db.url(), "test/notify"});
  ha::OutboxDispatcher d(hub, std::make_shared<store::ConnectionPool>(db.url(), "test/pool", 2), [&] { return std::vector<std::shared_ptr<core::Connection>>{on}; }, o);
  REQUIRE(hatest::wait_for([&] { return on->woken.load() >= 3; }, 5s));
  CHECK(d.notifications() == 0);
  CHECK(d.rounds() >= 3);
}

}  // namespace wa::e2e
