// HA pieces that need no database: pacing, the state machine, heartbeat bookkeeping, the timing
// rules behind the fencing argument, and the fence guard's deadline.
#include <catch2/catch.hpp>

#include <condition_variable>
#include <mutex>

#include <thread>

#include "common/metrics.h"
#include "ha/account_lease.h"
#include "ha/account_state.h"
#include "ha/backoff.h"
#include "ha/db_retry.h"
#include "ha/elector.h"
#include "ha/fencing.h"
#include "ha/heartbeat.h"
#include "ha/lease.h"
#include "ha/lock_session.h"
#include "ha/supervisor.h"
#include "store/accounts.h"
#include "store/advisory_lock.h"

using namespace std::chrono_literals;
using wa::ha::Millis;

TEST_CASE("jittered interval stays within +-fraction", "[ha][unit]") {
  std::mt19937_64 rng(7);
  Millis lo = 10000ms, hi = 0ms;
  for (int i = 0; i < 2000; ++i) {
    const auto d = wa::ha::jittered(500ms, 0.2, rng);
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  CHECK(lo >= 400ms);
  CHECK(hi <= 600ms);
  // Jitter actually spreads the values (a constant would synchronise a fleet).
  CHECK(hi - lo > 100ms);
}

TEST_CASE("backoff doubles from 1 s to the 30 s cap and resets", "[ha][unit]") {
  wa::ha::Backoff b(1000ms, 30000ms, 0.0, 1);
  CHECK(b.next() == 1000ms);
  CHECK(b.next() == 2000ms);
  CHECK(b.next() == 4000ms);
  CHECK(b.next() == 8000ms);
  CHECK(b.next() == 16000ms);
  CHECK(b.next() == 30000ms);
  for (int i = 0; i < 100; ++i) CHECK(b.next() == 30000ms);
  b.reset();
  CHECK(b.next() == 1000ms);
  wa::ha::Backoff j(1000ms, 30000ms, 0.2, 2);
  const auto first = j.next();
  CHECK(first >= 800ms);
  CHECK(first <= 1200ms);
}

TEST_CASE("database retry: three fast tries, then doubling, capped by what the server said", "[ha][unit]") {
  const std::string refused =
      "registry session: cannot connect to PostgreSQL: connection to server at "
      "\"127.0.0.1\", port 5432 failed: Connection refused";
  const std::string starting =
      "lock session: cannot connect to PostgreSQL: FATAL:  the database system is starting up";
  const std::string read_only = "begin lease: ERROR:  cannot execute UPDATE in a read-only transaction";
  const std::string auth =
      "store session: cannot connect to PostgreSQL: FATAL:  password authentication failed";
  CHECK(wa::ha::DbRetry::server_absent(refused));
  CHECK(wa::ha::DbRetry::server_absent(starting));
  CHECK_FALSE(wa::ha::DbRetry::server_absent(auth));
  CHECK(wa::ha::DbRetry::read_only(read_only));
  CHECK_FALSE(wa::ha::DbRetry::read_only(refused));
  auto within = [](Millis d, Millis base) { return d >= base * 8 / 10 && d <= base * 12 / 10; };
  wa::ha::DbRetry r(30000ms, 3);
  for (int i = 0; i < 3; ++i) CHECK(within(r.next(refused), 50ms));
  CHECK(within(r.next(refused), 100ms));
  CHECK(within(r.next(refused), 200ms));
  // An outage of any length: never more than the outage cap apart.
  for (int i = 0; i < 200; ++i) CHECK(r.next(refused) <= wa::ha::DbRetry::kOutageCap * 12 / 10);
  Millis ro{0}, other{0};
  for (int i = 0; i < 50; ++i) ro = r.next(read_only);
  CHECK(within(ro, wa::ha::DbRetry::kReadOnlyCap));
  for (int i = 0; i < 50; ++i) other = r.next(auth);
  CHECK(within(other, 30000ms));
  r.reset();
  CHECK(within(r.next(auth), 50ms));
}

TEST_CASE("fence token: an epoch's high 32 bits name the timeline it was granted on", "[ha][unit]") {
  CHECK(wa::store::epoch_timeline(1) == 1);
  CHECK(wa::store::epoch_timeline(4000000000LL) == 1);
  CHECK(wa::store::epoch_timeline(std::int64_t{1} << 32) == 2);
  CHECK(wa::store::epoch_timeline((std::int64_t{2} << 32) + 7) == 3);
}

TEST_CASE("role state machine edges", "[ha][unit]") {
  using wa::ha::Role;
  using wa::ha::transition_allowed;
  CHECK(transition_allowed(Role::standby, Role::leader));
  CHECK(transition_allowed(Role::leader, Role::active));
  CHECK(transition_allowed(Role::active, Role::fenced));
  CHECK(transition_allowed(Role::leader, Role::fenced));
  CHECK(transition_allowed(Role::fenced, Role::standby));
  CHECK(transition_allowed(Role::active, Role::resigning));
  CHECK_FALSE(transition_allowed(Role::standby, Role::active));
  CHECK_FALSE(transition_allowed(Role::fenced, Role::active));
  CHECK(transition_allowed(Role::resigning, Role::standby));  // gave the account up while running
  CHECK_FALSE(transition_allowed(Role::resigning, Role::leader));
  CHECK(wa::ha::leads(Role::leader));
  CHECK(wa::ha::leads(Role::active));
  CHECK_FALSE(wa::ha::leads(Role::fenced));
  CHECK(std::string(wa::ha::to_string(Role::leader)) == "leader");
}

TEST_CASE("heartbeat finds held keys missing from pg_locks", "[ha][unit]") {
  const std::set<std::int64_t> expected{1, 2, -3};
  CHECK(wa::ha::missing_keys(expected, {1, 2, -3, 9}).empty());
  CHECK(wa::ha::missing_keys(expected, {2}) == std::vector<std::int64_t>{-3, 1});
  CHECK(wa::ha::missing_keys(expected, {}).size() == 3);
}

TEST_CASE("server release time is fence_after + margin and at most 15 s", "[ha][unit]") {
  const auto s = wa::ha::safe_session_settings(5000ms, 3000ms);
  CHECK(s.server_tcp_user_timeout_ms == 8000);
  CHECK(s.server_keepalives_idle_s == 2);
  CHECK(s.server_keepalives_interval_s == 1);
  CHECK(s.server_keepalives_idle_s + s.server_keepalives_count * s.server_keepalives_interval_s >= 8);
  CHECK_THROWS_AS(wa::ha::safe_session_settings(13000ms, 3000ms), std::invalid_argument);
}

TEST_CASE("elector configuration rules name the setting", "[ha][unit]") {
  wa::ha::ElectorConfig c;
  c.pod = "p0";
  CHECK(wa::ha::validate(c).empty());
  c.fence_after = 1500ms;  // < 2 heartbeats
  CHECK(wa::ha::validate(c).find("--fence-after") != std::string::npos);
  c.fence_after = 20s;  // database would keep the lock > 15 s
  CHECK(wa::ha::validate(c).find("--fence-after") != std::string::npos);
  c.fence_after = 5s;
  c.pod.clear();
  CHECK(wa::ha::validate(c).find("--pod") != std::string::npos);
}

TEST_CASE("fence guard fires at the deadline - not before - and not once disarmed", "[ha][unit]") {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<std::string, std::chrono::steady_clock::time_point>> fired;
  wa::ha::FenceGuard g([&](const std::string& id) {
    std::lock_guard lk(mu);
    fired.emplace_back(id, std::chrono::steady_clock::now());
    cv.notify_all();
  });
  const auto t0 = std::chrono::steady_clock::now();
  g.arm("a", t0 + 150ms);
  g.arm("b", t0 + 100ms);
  g.disarm("b");
  g.arm("c", t0 + 10s);
  g.arm("c", t0 + 50ms);  // moved earlier
  std::unique_lock lk(mu);
  REQUIRE(cv.wait_for(lk, 5s, [&] { return fired.size() >= 2; }));
  REQUIRE(fired.size() == 2);
  CHECK(fired[0].first == "c");
  CHECK(fired[1].first == "a");
  CHECK(fired[0].second >= t0 + 50ms);
  CHECK(fired[1].second >= t0 + 150ms);
  CHECK_FALSE(g.armed("a"));
  CHECK_FALSE(g.armed("b"));
}

TEST_CASE("leader notices: payload round trip - other shapes are not notices", "[ha][unit]") {
  const wa::store::LeaderNotice n{"acme", 42, "fenced", "pod-1"};
  const auto back = wa::store::parse_notice(wa::store::notice_payload(n));
  REQUIRE(back);
  CHECK(back->business_id == "acme");
  CHECK(back->epoch == 42);
  CHECK(back->kind == "fenced");
  CHECK(back->pod == "pod-1");
  CHECK_FALSE(wa::store::parse_notice("acme"));  // older pods sent the bare business_id
  CHECK_FALSE(wa::store::parse_notice("acme x fenced pod-1"));
  CHECK_FALSE(wa::store::parse_notice(""));
}

TEST_CASE("account lease: transition() refuses edges the state machine does not have", "[ha][unit]") {
  wa::Metrics m;
  wa::ha::AccountLease e;
  e.acc.business_id = "acme";
  CHECK_FALSE(e.transition(wa::ha::Role::active, "skip leader", m));
  CHECK(e.role == wa::ha::Role::standby);
  CHECK(e.transition(wa::ha::Role::leader, "won", m));
  CHECK(m.leader("acme").Value() == 1);
  CHECK(e.transition(wa::ha::Role::active, "logged in", m));
  CHECK_FALSE(e.transition(wa::ha::Role::standby, "no direct edge", m));
  CHECK(e.role == wa::ha::Role::active);
  CHECK(e.transition(wa::ha::Role::fenced, "lost", m));
  CHECK(m.leader("acme").Value() == 0);
  CHECK(m.leader_transitions.Value() == 2);
}

TEST_CASE(
    "lease: fresh until its deadline or a revoke - a later proof extends it - a stale lease moves no key",
    "[ha][unit]") {
  using Clock = wa::ha::Lease::Clock;
  int moves = 0;
  auto fence = std::make_shared<wa::store::WriteFence>("acme", 7);
  wa::ha::Lease l("acme", 7, Clock::now() + 50ms, fence,
                  [&](const std::string&, std::int64_t, std::function<void()>, std::function<bool()>) {
                    ++moves;
                    return true;
                  });
  CHECK(l.fresh());
  CHECK(l.epoch() == 7);
  CHECK(l.move_key(1, [] {}));
  l.extend(Clock::now() + 100ms);
  l.extend(Clock::now() - 1s);  // never moves back
  std::this_thread::sleep_for(70ms);
  CHECK(l.fresh());
  std::this_thread::sleep_for(60ms);
  CHECK_FALSE(l.fresh());
  CHECK_FALSE(l.move_key(2, [] {}));
  CHECK(moves == 1);
  wa::ha::Lease r("acme", 8, Clock::now() + 10s, std::make_shared<wa::store::WriteFence>("acme", 8), {});
  CHECK(r.fresh());
  r.revoke();
  CHECK_FALSE(r.fresh());
  CHECK(r.fence()->revoked());
}

namespace {
struct NullConnection : wa::core::Connection {
  void start() override {}
  void stop(wa::core::DisconnectReason) override {}
  wa::core::ConnectionState state() const override { return wa::core::ConnectionState::connecting; }
};
struct CapturingFactory : wa::core::ConnectionFactory {
  std::shared_ptr<const wa::core::Lease> got;
  std::shared_ptr<wa::ha::Lease> published;
  std::shared_ptr<wa::ha::Leases> leases;
  std::unique_ptr<wa::core::Connection> create(const std::string& id, const std::string&,
                                               wa::core::ConnectionEvents,
                                               std::shared_ptr<const wa::core::Lease> lease) override {
    got = std::move(lease);
    published = leases->get(id);
    return std::make_unique<NullConnection>();
  }
};
}  // namespace

TEST_CASE(
    "supervisor: the connection gets the real lease, published before the factory runs - stop revokes it",
    "[ha][unit]") {
  CapturingFactory f;
  f.leases = std::make_shared<wa::ha::Leases>();
  wa::ha::Supervisor sup(&f, f.leases);
  auto lease = std::make_shared<wa::ha::Lease>("acme", 3, wa::ha::Lease::Clock::now() + 10s,
                                               std::make_shared<wa::store::WriteFence>("acme", 3), nullptr);
  sup.start(lease, "", {});
  CHECK(f.got.get() == lease.get());
  CHECK(f.published == lease);
  CHECK(f.got->fresh());
  sup.stop("acme", wa::core::DisconnectReason::lock_lost);
  CHECK_FALSE(f.got->fresh());
  sup.release("acme", wa::core::DisconnectReason::lock_lost);
  CHECK(f.leases->get("acme") == nullptr);
}
