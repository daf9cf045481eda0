// In-process electors against a real PostgreSQL: fencing when the lock session is killed, the
// fenced leader's writes refused, takeover with epoch+1, and the connection started/stopped.
#include <catch2/catch.hpp>

#include <signal.h>

#include <atomic>
#include <thread>

#include "ha/elector.h"
#include "store/fenced_write.h"
#include "support.h"

using namespace std::chrono_literals;
using wa::hatest::TestDb;
using wa::hatest::wait_for;

namespace {

// A stand-in for the WhatsApp connection: logs in as soon as it is started.
class FakeConnection : public wa::core::Connection {
 public:
  FakeConnection(wa::core::ConnectionEvents ev, std::atomic<int>& stops) : ev_(std::move(ev)), stops_(stops) {}
  void start() override {
    state_ = wa::core::ConnectionState::logged_in;
    if (ev_.on_state) ev_.on_state(state_);
  }
  void stop(wa::core::DisconnectReason why) override {
    if (state_ == wa::core::ConnectionState::stopped) return;
    state_ = wa::core::ConnectionState::stopped;
    if (why == wa::core::DisconnectReason::lock_lost) ++stops_;
  }
  wa::core::ConnectionState state() const override { return state_; }

 private:
  wa::core::ConnectionEvents ev_;
  std::atomic<int>& stops_;
  std::atomic<wa::core::ConnectionState> state_{wa::core::ConnectionState::stopped};
};

class FakeFactory : public wa::core::ConnectionFactory {
 public:
  std::unique_ptr<wa::core::Connection> create(const std::string&, const std::string&,
                                               wa::core::ConnectionEvents ev,
                                               std::shared_ptr<const wa::core::Lease>) override {
    ++created;
    return std::make_unique<FakeConnection>(std::move(ev), lock_lost_stops);
  }
  std::atomic<int> created{0};
  std::atomic<int> lock_lost_stops{0};
};

// One pod, in a thread.
struct Pod {
  wa::Metrics metrics;
  FakeFactory factory;
  wa::ha::Supervisor sup{&factory};
  wa::ha::Elector elector;
  std::thread thread;

  Pod(const std::string& url, const std::string& name, wa::ha::StandbyWait wait = wa::ha::StandbyWait::poll,
      std::chrono::milliseconds fence_after = 5s, std::chrono::milliseconds heartbeat = 1s)
      : elector(config(url, name, wait, fence_after, heartbeat), metrics, sup) {
    thread = std::thread([this] { elector.run(); });
  }
  ~Pod() {
    elector.stop();
    thread.join();
  }
  static wa::ha::ElectorConfig config(const std::string& url, const std::string& name, wa::ha::StandbyWait wait,
                                      std::chrono::milliseconds fence_after, std::chrono::milliseconds heartbeat) {
    wa::ha::ElectorConfig c;
    c.fence_after = fence_after;
    c.heartbeat_interval = heartbeat;
    c.database_url = url;
    c.pod = name;
    c.standby_wait = wait;
    c.poll_interval = 100ms;
    c.relist_interval = 200ms;
    return c;
  }
  std::optional<wa::ha::AccountSnapshot> account(const std::string& id) const {
    for (auto& a : elector.snapshot().accounts)
      if (a.business_id == id) return a;
    return std::nullopt;
  }
  bool leads(const std::string& id) const {
    auto a = account(id);
    return a && a->role == wa::ha::Role::active;
  }
};

}  // namespace

TEST_CASE("killed lock session: leader fences - its writes are refused - a standby takes over with epoch+1",
          "[ha][pg]") {
  TestDb db;
  db.add_account("acme");
  auto a = std::make_unique<Pod>(db.url(), "pod-a");
  REQUIRE(wait_for([&] { return a->leads("acme"); }, 10s));
  Pod b(db.url(), "pod-b");
  REQUIRE(wait_for([&] { return b.account("acme").has_value(); }, 10s));
  CHECK(b.account("acme")->role == wa::ha::Role::standby);

  const auto epoch = a->account("acme")->epoch;
  CHECK(epoch >= 1);
  CHECK(a->factory.created == 1);
  auto fence = a->sup.write_fence("acme");
  REQUIRE(fence);
  CHECK(fence->epoch() == epoch);
  // While leading, a fenced write goes through.
  auto c = db.connect();
  fence->write(c, "test write while leading", [](wa::pg::Connection& conn) { conn.exec_simple("noop", "SELECT 1"); });

  const int pid = a->elector.lock_backend_pid("acme");
  REQUIRE(pid > 0);
  c.exec("terminate the leader's lock session", "SELECT pg_terminate_backend($1::int)", {pid});

  REQUIRE(wait_for([&] { return b.leads("acme"); }, 10s));
  CHECK(b.account("acme")->epoch == epoch + 1);
  // A noticed: it fenced (and did not lead again while B holds the lock).
  REQUIRE(wait_for([&] { return a->factory.lock_lost_stops >= 1; }, 10s));
  REQUIRE(wait_for([&] { return a->metrics.fenced.Value() >= 1; }, 10s));
  CHECK_FALSE(a->leads("acme"));
  // The old leader's next write is refused locally (revoked) ...
  CHECK_THROWS_AS(fence->write(c, "late write of the fenced leader", [](wa::pg::Connection&) {}),
                  wa::store::EpochMoved);
  // ... and by the database, even if it bypassed the local switch.
  CHECK_THROWS_AS(wa::store::fenced_write(c, "acme", epoch, "stale write", [](wa::pg::Connection&) {},
                                          &a->metrics.store_writes_refused),
                  wa::store::EpochMoved);
  CHECK(a->metrics.store_writes_refused.Value() >= 1);

  auto ev = wa::hatest::events(db, "acme");
  bool fenced_recorded = false;
  for (auto& e : ev)
    if (e.kind == wa::store::EventKind::fenced && e.pod == "pod-a") fenced_recorded = true;
  CHECK(fenced_recorded);
  auto gain = wa::hatest::last_gain(ev);
  REQUIRE(gain);
  CHECK(gain->pod == "pod-b");
  CHECK(gain->epoch == epoch + 1);
  CHECK(gain->kind == wa::store::EventKind::takeover);
}

TEST_CASE("a standby competes for accounts registered after it started", "[ha][pg]") {
  TestDb db;
  Pod a(db.url(), "pod-a");
  REQUIRE(wait_for([&] { return a.elector.snapshot().db_reachable; }, 10s));
  CHECK(a.elector.snapshot().accounts.empty());
  db.add_account("late-1");
  db.add_account("late-2");
  REQUIRE(wait_for([&] { return a.leads("late-1") && a.leads("late-2"); }, 10s));
  // Both keys are held on the one pod lock session.
  CHECK(a.elector.lock_backend_pid("late-1") == a.elector.lock_backend_pid("late-2"));
}

TEST_CASE("logged_out accounts are not competed for", "[ha][pg]") {
  TestDb db;
  db.add_account("gone");
  db.add_account("here");
  {
    auto c = db.connect();
    c.exec("mark logged out", "UPDATE wa_accounts SET status = 'logged_out' WHERE business_id = $1", {"gone"});
  }
  Pod a(db.url(), "pod-a");
  REQUIRE(wait_for([&] { return a.leads("here"); }, 10s));
  // Both were listed together, so a candidate 'gone' would have been won by the same try-lock
  // query that won 'here'.
  auto c = db.connect();
  auto r = c.exec("count acquisitions", "SELECT count(*) FROM ha_events WHERE business_id = $1", {"gone"});
  CHECK(r.i64(0, 0) == 0);
  CHECK(a.account("gone")->role == wa::ha::Role::standby);
}

TEST_CASE("block mode: the waiter wins when the holder's session dies", "[ha][pg]") {
  TestDb db;
  db.add_account("blk");
  auto a = std::make_unique<Pod>(db.url(), "pod-a", wa::ha::StandbyWait::block);
  REQUIRE(wait_for([&] { return a->leads("blk"); }, 10s));
  Pod b(db.url(), "pod-b", wa::ha::StandbyWait::block);
  // B's waiter is queued inside pg_advisory_lock.
  auto c = db.connect();
  REQUIRE(wait_for(
      [&] {
        auto r = c.exec("count waiters",
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted");
        return r.i64(0, 0) == 1;
      },
      10s));
  const auto epoch = a->account("blk")->epoch;
  a.reset();  // graceful: A unlocks, the waiter gets the lock at once
  REQUIRE(wait_for([&] { return b.leads("blk"); }, 10s));
  CHECK(b.account("blk")->epoch == epoch + 1);
}

TEST_CASE("heartbeat deadline: a leader whose lock session stops answering fences after fence_after", "[ha][pg]") {
  TestDb db;
  db.add_account("stall");
  auto a = std::make_unique<Pod>(db.url(), "pod-a", wa::ha::StandbyWait::poll, 1000ms, 200ms);
  REQUIRE(wait_for([&] { return a->leads("stall"); }, 10s));
  Pod b(db.url(), "pod-b");
  REQUIRE(wait_for([&] { return b.account("stall").has_value(); }, 10s));
  const auto epoch = a->account("stall")->epoch;
  const int pid = a->elector.lock_backend_pid("stall");
  REQUIRE(pid > 0);
  // Freeze the leader's backend: the session stays open (the server keeps the lock) but no
  // heartbeat is answered any more - what a leader sees behind a silent partition.
  REQUIRE(kill(pid, SIGSTOP) == 0);
  struct Resume {
    int pid;
    ~Resume() { kill(pid, SIGCONT); }
  } resume{pid};
  const auto t_stop = std::chrono::steady_clock::now();
  REQUIRE(wait_for([&] { return a->factory.lock_lost_stops >= 1; }, 10s));
  const auto fenced_after = std::chrono::steady_clock::now() - t_stop;
  INFO("fenced " << std::chrono::duration_cast<std::chrono::milliseconds>(fenced_after).count() << " ms after the stall");
  // The lease ran from the last answered heartbeat (sent at most one interval before the stall).
  CHECK(fenced_after >= 1000ms - 200ms);
  // The guard stopped the connection; the loop then does the bookkeeping.
  REQUIRE(wait_for([&] { return a->metrics.fenced.Value() == 1; }, 10s));
  REQUIRE(wait_for([&] { return a->account("stall")->role == wa::ha::Role::fenced ||
                                a->account("stall")->role == wa::ha::Role::standby; }, 10s));
  // The frozen backend still holds the lock: nobody could take over while it was stalled.
  CHECK_FALSE(b.leads("stall"));
  kill(pid, SIGCONT);
  // Thawed, the backend reads A's termination and releases; B takes over with the next epoch.
  REQUIRE(wait_for([&] { return b.leads("stall"); }, 10s));
  CHECK(b.account("stall")->epoch == epoch + 1);
}

TEST_CASE("pairing: the leader moves to the jid lock key without a gap", "[ha][pg]") {
  TestDb db;
  db.add_account("pairme");
  const auto mode = GENERATE(wa::ha::StandbyWait::poll, wa::ha::StandbyWait::block);
  INFO("standby mode " << (mode == wa::ha::StandbyWait::poll ? "poll" : "block"));
  auto a = std::make_unique<Pod>(db.url(), "pod-a", mode);
  REQUIRE(wait_for([&] { return a->leads("pairme"); }, 10s));
  Pod b(db.url(), "pod-b", mode);
  REQUIRE(wait_for([&] { return b.account("pairme").has_value(); }, 10s));
  const auto epoch = a->account("pairme")->epoch;
  auto c = db.connect();
  const std::string jid = "15551234567@s.whatsapp.net";
  const auto old_key = wa::store::compute_lock_key(c, "pairme", std::nullopt);
  const auto new_key = wa::store::compute_lock_key(c, "pairme", jid);
  REQUIRE(old_key != new_key);
  auto writer = db.connect("pairing write");
  const bool moved = a->elector.move_lock("pairme", new_key, [&] {
    // Committed while both keys are held: no moment in which the stored key is free.
    auto r = c.exec("keys held by the leader during the commit",
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = $1::int",
                    {a->elector.lock_backend_pid("pairme")});
    CHECK(r.i64(0, 0) == 2);
    CHECK(wa::store::set_jid(writer, "pairme", epoch, jid) == new_key);
  });
  REQUIRE(moved);
  const int pid = a->elector.lock_backend_pid("pairme");
  auto held = [&](std::int64_t k) {
    return c.exec("is the key held", "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                  " AND objsubid = 1 AND pid = $1::int AND ((classid::bigint << 32) | objid::bigint) = $2::bigint",
                  {pid, k}).i64(0, 0) == 1;
  };
  CHECK(held(new_key));
  CHECK_FALSE(held(old_key));
  // B re-lists, sees the jid and competes for the new key, which stays busy.
  REQUIRE(wait_for([&] { return b.account("pairme")->jid == jid; }, 10s));
  if (mode == wa::ha::StandbyWait::poll) {
    const auto busy0 = b.metrics.lock_attempt("busy").Value();
    REQUIRE(wait_for([&] { return b.metrics.lock_attempt("busy").Value() >= busy0 + 2; }, 10s));
  } else {
    // B's waiter is queued on the new key.
    REQUIRE(wait_for(
        [&] {
          return c.exec("waiters on the new key",
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objsubid = 1"
                        " AND ((classid::bigint << 32) | objid::bigint) = $1::bigint",
                        {new_key})
                     .i64(0, 0) == 1;
        },
        10s));
  }
  CHECK(a->leads("pairme"));
  CHECK_FALSE(b.leads("pairme"));
  // The moved lock fails over like any other.
  c.exec("terminate the leader's lock session", "SELECT pg_terminate_backend($1::int)", {pid});
  REQUIRE(wait_for([&] { return b.leads("pairme"); }, 10s));
  CHECK(b.account("pairme")->epoch == epoch + 1);
}
