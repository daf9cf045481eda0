// PostgreSQL primary failover under Patroni: a paired account led by one of three replicas on the
// multi-host URL (target_session_attrs=read-write); the primary's postmaster is SIGKILLed, Patroni
// promotes the replica, every advisory lock is gone with the old primary, and the pods must elect
// a leader again on the new primary and log it in. Prints pg_writable_ms (fault -> the new
// primary commits a write) and leader_after_writable_ms (-> the new leader logged in at wasim),
// then repeats right after a lease_epoch bump, as a planned switchover, and with the bump never
// replicated (stalled replication: the loss window of asynchronous replication).
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "cluster.h"
#include "own_postgres.h"
#include "store/accounts.h"
#include "store/errors.h"

namespace wa::e2e {
namespace {

// "k=v k=v" -> map.
std::map<std::string, std::string> fields(const std::string& line) {
  std::map<std::string, std::string> m;
  std::istringstream in(line);
  std::string kv;
  while (in >> kv)
    if (auto eq = kv.find('='); eq != std::string::npos) m[kv.substr(0, eq)] = kv.substr(eq + 1);
  return m;
}

// scripts/patroni-cluster.sh for the lifetime of the test.
class Patroni {
 public:
  Patroni() : dir_(fmt::format("/tmp/waconn-patroni-{}", getpid())) {
    std::filesystem::remove_all(dir_);
    auto [rc, out] = run_shell(script("start"));
    while (!out.empty() && out.back() == '\n') out.pop_back();
    url_ = out.substr(out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1);
    if (rc != 0 || url_.rfind("postgresql://", 0) != 0) {
      // The destructor does not run for a constructor that throws: stop what did start.
      run_shell(script("stop"));
      FAIL("scripts/patroni-cluster.sh start failed (exit " << rc << "): " << out);
    }
  }
  ~Patroni() {
    run_shell(script("stop"));
    // WACONN_KEEP_PATRONI=1 keeps the logs of etcd, Patroni and PostgreSQL for a post-mortem.
    if (const char* keep = std::getenv("WACONN_KEEP_PATRONI"); keep != nullptr && *keep == '1') return;
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const std::string& url() const { return url_; }
  std::string primary() { return trim(run_shell(script("primary")).second); }
  void wait_replica() { REQUIRE(run_shell(script("wait-replica")).first == 0); }
  void freeze_replication() { REQUIRE(run_shell(script("freeze-replication")).first == 0); }
  void thaw_replication() { REQUIRE(run_shell(script("thaw-replication")).first == 0); }
  // Fails the primary over ("kill": SIGKILL of its postmaster, "switchover": patronictl); returns
  // the script's fields once the other node accepts writes.
  std::map<std::string, std::string> fail_over(const std::string& how) {
    auto [rc, out] = run_shell(script("failover") + " " + how);
    INFO(out);
    REQUIRE(rc == 0);
    return fields(out);
  }

 private:
  std::string script(const std::string& cmd) const {
    return fmt::format("bash '{}/scripts/patroni-cluster.sh' {} '{}'", source_dir(), cmd, dir_);
  }
  static std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
  }
  std::string dir_;
  std::string url_;
};

std::int64_t newest_login_ms(const std::vector<WasimConnection>& list) {
  std::int64_t t = 0;
  for (const auto& c : list)
    if (c.logged_in_ms) t = std::max(t, *c.logged_in_ms);
  return t;
}

std::string epochs_of(hatest::TestDb& db) {
  std::string s;
  for (const auto& e : hatest::events(db, Cluster::kAccount))
    if (e.epoch) s += fmt::format("{}{}:{}", s.empty() ? "" : ",", store::to_string(e.kind), *e.epoch);
  return s;
}

// One failover round; returns (pg_writable_ms, leader_after_writable_ms).
std::pair<std::int64_t, std::int64_t> failover_round(Patroni& pat, Cluster& c, const std::string& jid,
                                                     const char* label, std::int64_t epoch_before,
                                                     const std::string& how = "kill") {
  const auto old_primary = pat.primary();
  REQUIRE(!old_primary.empty());
  std::fprintf(stderr, "patroni %s: killing the primary %s\n", label, old_primary.c_str());
  auto f = pat.fail_over(how);
  std::fprintf(stderr, "patroni %s: writable again\n", label);
  REQUIRE(f.count("pg_writable_ms") == 1);
  const auto pg_writable_ms = std::stoll(f["pg_writable_ms"]);
  const auto fault_at = std::stoll(f["fault_at_ms"]);
  const auto writable_at = std::stoll(f["writable_at_ms"]);
  CHECK(f["old"] == old_primary);
  // Logged in again after the fault (a login that began before it does not count).
  std::int64_t login_at = 0;
  const bool back = hatest::wait_for(
      [&] {
        login_at = newest_login_ms(c.connections(jid));
        return login_at > fault_at && c.logged_in_pod() >= 0;
      },
      90s);
  // The epoch the new leader holds, by its own /status (the row may still lag behind it).
  std::int64_t leader_epoch = -1;
  if (const int i = c.logged_in_pod(); i >= 0) {
    const auto st = c.status_of(i);
    if (const auto at = st.find("\"epoch\":"); at != std::string::npos)
      leader_epoch = std::atoll(st.c_str() + at + 8);
  }
  const auto after = c.account();
  std::string events;
  try {
    events = epochs_of(c.db());
  } catch (const std::exception& e) {
    events = e.what();
  }
  const auto overlap = overlap_ms(c.connections(jid));
  const auto leader_ms = back ? login_at - writable_at : -1;
  std::printf(
      "patroni %s: old_primary=%s new_primary=%s pg_writable_ms=%lld leader_after_writable_ms=%lld "
      "lease_epoch_before=%lld lease_epoch_row_after=%lld new_leader_epoch=%lld epoch_reused=%s "
      "overlap_ms=%lld "
      "ha_events_on_new_primary=[%s]\n",
      label, old_primary.c_str(), f["new"].c_str(), static_cast<long long>(pg_writable_ms),
      static_cast<long long>(leader_ms), static_cast<long long>(epoch_before),
      static_cast<long long>(after.lease_epoch), static_cast<long long>(leader_epoch),
      leader_epoch >= 0 && leader_epoch <= epoch_before ? "YES" : "no", static_cast<long long>(overlap),
      events.c_str());
  std::fflush(stdout);
  REQUIRE(back);
  // The leader's lock lives on the new primary (the pods' URL reaches only the read-write node).
  CHECK(pat.primary() == f["new"]);
  auto conn = c.db().connect("locks on the new primary");
  CHECK(conn.exec("is primary", "SELECT pg_is_in_recovery()::text").text(0, 0) == "false");
  CHECK(conn.exec("advisory locks", "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").i64(0, 0) >=
        1);
  // The new leader records 'connected' through its store pool after the login wasim saw, and the
  // pool reconnects to the new primary first: the row catches up within moments, not at once.
  auto row = after;
  hatest::wait_for(
      [&] {
        row = c.account();
        return row.status == "connected";
      },
      15s);
  CHECK(row.status == "connected");
  CHECK(row.jid == jid);
  // libpq's messages about the dying server (the FATAL sent to idle sessions) are JSON log lines
  // like everything else on the pods' stderr.
  for (auto& p : c.pods()) {
    std::istringstream lines(p->log());
    for (std::string line; std::getline(lines, line);) {
      INFO(p->pod() << ": " << line);
      CHECK(line.rfind("{", 0) == 0);
    }
  }
  return {pg_writable_ms, leader_ms};
}

}  // namespace

TEST_CASE("patroni: SIGKILL of the primary - a leader is elected and logged in again on the promoted replica",
          "[pg][patroni]") {
  Patroni pat;
  REQUIRE(setenv("WACONN_TEST_DATABASE_URL", pat.url().c_str(), 1) == 0);
  // The CLI itself on the multi-host URL (applies nothing new: the fixture migrates too).
  CHECK(run_shell(fmt::format("'{}/waconnector' migrate --database-url '{}' >/dev/null", hatest::bin_dir(),
                        pat.url()))
            .first == 0);
  Cluster c;
  const auto jid = c.pair("+15550009001");

  // Round 1: a quiet primary dies.
  const auto before = c.account();
  failover_round(pat, c, jid, "round=1 quiet", before.lease_epoch);

  // Round 2: the primary dies right after a lease_epoch bump (a leader SIGKILLed, a standby takes
  // over and bumps the epoch): with asynchronous replication the bump may not have reached the
  // replica, and then the next leader on the promoted node can get the same number again.
  // The old primary first rejoins as a streaming replica: killing the primary before that would
  // be a double fault that loses everything since the last failover.
  pat.wait_replica();
  const int leader = c.logged_in_pod();
  REQUIRE(leader >= 0);
  const auto e0 = c.account().lease_epoch;
  c.pods()[static_cast<std::size_t>(leader)]->signal(SIGKILL);
  REQUIRE(hatest::wait_for([&] { return c.account().lease_epoch > e0; }, 30s));
  const auto bumped = c.account().lease_epoch;
  failover_round(pat, c, jid, "round=2 right-after-bump", bumped);

  // Round 3: a planned switchover (patronictl): the primary shuts down cleanly.
  pat.wait_replica();
  failover_round(pat, c, jid, "round=3 switchover", c.account().lease_epoch, "switchover");

  // Round 4: asynchronous replication's loss window, made deterministic. Replication is stalled
  // (nftables, root only), a takeover bumps lease_epoch on the primary alone, then the primary
  // dies: the promoted node never saw that bump. Before the timeline fence token the next leader
  // on the promoted node was granted the same epoch number again, and the old leader's fenced
  // writes would have passed there. Now the epoch carries the timeline (store/accounts.h): the new
  // leader's epoch differs, and a fenced write with the old epoch is refused on the new primary.
  if (geteuid() != 0) {
    WARN("round 4 (stalled replication) needs root for nftables: not run");
    return;
  }
  pat.wait_replica();
  pat.freeze_replication();
  const int leader4 = c.logged_in_pod();
  REQUIRE(leader4 >= 0);
  const auto e4 = c.account().lease_epoch;
  c.pods()[static_cast<std::size_t>(leader4)]->signal(SIGKILL);
  REQUIRE(hatest::wait_for([&] { return c.account().lease_epoch > e4; }, 30s));
  // Granted on the old primary only (replication is frozen).
  const auto lost_epoch = c.account().lease_epoch;
  failover_round(pat, c, jid, "round=4 bump-not-replicated", lost_epoch);
  pat.thaw_replication();
  std::int64_t new_epoch = -1;
  if (const int i = c.logged_in_pod(); i >= 0) {
    const auto st = c.status_of(i);
    if (const auto at = st.find("\"epoch\":"); at != std::string::npos)
      new_epoch = std::atoll(st.c_str() + at + 8);
  }
  auto conn = c.db().connect("fenced write of the lost epoch on the new primary");
  bool refused = false;
  try {
    store::touch_activity(conn, Cluster::kAccount, lost_epoch, nullptr);
  } catch (const store::EpochMoved&) {
    refused = true;
  }
  std::printf(
      "patroni round=4 fence-token: lost_epoch=%lld (timeline %lld) new_leader_epoch=%lld (timeline %lld) "
      "old_epoch_write_refused=%s\n",
      static_cast<long long>(lost_epoch), static_cast<long long>(store::epoch_timeline(lost_epoch)),
      static_cast<long long>(new_epoch), static_cast<long long>(store::epoch_timeline(new_epoch)),
      refused ? "yes" : "NO");
  std::fflush(stdout);
  CHECK(new_epoch != lost_epoch);
  CHECK(store::epoch_timeline(new_epoch) > store::epoch_timeline(lost_epoch));
  CHECK(refused);
}

}  // namespace wa::e2e
