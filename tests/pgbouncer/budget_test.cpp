// The connection budget (docs/operations.md): a pod's PostgreSQL sessions do not grow with the
// accounts it leads. Two pods on wasim with 30 unpaired accounts: the leader runs 30 clients, each
// writing its device keys, pre-keys and QR codes through the store pool, while the test samples
// pg_stat_activity by application_name prefix. Each pod stays within lock 1 + live 1 + notify 1 +
// store pool 4 + peer waiters (pods - 1), and the start log carries the budget line.
#include <map>
#include <memory>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "cluster.h"

namespace wa::e2e {

TEST_CASE("connection budget: 30 led accounts keep each pod's sessions within the budget", "[pg][e2e][pgbouncer]") {
  constexpr int kAccounts = 30;
  constexpr int kPods = 2;
  constexpr int kPool = 4;
  constexpr std::int64_t kPerPod = 3 + kPool + (kPods - 1);
  Cluster c({}, 0);
  for (int i = 1; i < kAccounts; ++i) c.db().add_account(fmt::format("biz-{:02d}", i));
  // No --business-id: every registered account.
  const std::vector<std::string> args{"--database-url",  c.db().url(), "--wa-url", c.wasim().ws_url(),
                                      "--wa-root-key",   c.wasim().root_key_hex(), "--store-pool-size",
                                      std::to_string(kPool), "--expected-replicas", std::to_string(kPods)};
  for (int i = 0; i < kPods; ++i)
    c.pods().push_back(std::make_unique<hatest::Replica>(fmt::format("pod-{}", i), args));

  std::map<std::string, std::int64_t> max_per_pod;
  std::int64_t max_total = 0;
  auto sample = [&] {
    auto conn = c.db().connect("count sessions");
    auto r = conn.exec("count sessions by pod",
                       "SELECT split_part(application_name, '/', 2), count(*) FROM pg_stat_activity"
                       " WHERE datname = current_database() AND application_name LIKE 'waconnector/%/%'"
                       " GROUP BY 1");
    std::int64_t total = 0;
    for (int i = 0; i < r.rows(); ++i) {
      auto& m = max_per_pod[std::string(r.text(i, 0))];
      m = std::max(m, r.i64(i, 1));
      total += r.i64(i, 1);
    }
    max_total = std::max(max_total, total);
  };
  auto with_qr = [&] {
    auto conn = c.db().connect("count QR codes");
    return conn.exec("count QR codes", "SELECT count(*) FROM wa_accounts WHERE qr_code IS NOT NULL").i64(0, 0);
  };
  // Until every account's client published a QR (30 clients writing through the pool), sampling.
  std::int64_t qrs = 0;
  REQUIRE(hatest::wait_for(
      [&] {
        sample();
        return (qrs = with_qr()) == kAccounts;
      },
      90s));
  // And a while of steady state (QR refreshes, heartbeats, member beats, relists).
  hatest::wait_for(
      [&] {
        sample();
        return false;
      },
      5s);

  for (const auto& [pod, n] : max_per_pod) {
    INFO("pod " << pod << " held at most " << n << " sessions (budget " << kPerPod << ")");
    CHECK(n <= kPerPod);
  }
  CHECK(max_per_pod.size() == static_cast<std::size_t>(kPods));
  CHECK(max_total <= kPods * kPerPod);
  // Which purposes a pod holds: the named few, nothing per account.
  {
    auto conn = c.db().connect("purposes");
    auto r = conn.exec("purposes",
                       "SELECT DISTINCT split_part(application_name, '/', 3) FROM pg_stat_activity"
                       " WHERE datname = current_database() AND application_name LIKE 'waconnector/%/%' ORDER BY 1");
    for (int i = 0; i < r.rows(); ++i) {
      const std::string p(r.text(i, 0));
      INFO("purpose " << p);
      CHECK((p == "lock" || p == "live" || p == "notify" || p == "pool" || p == "peer"));
    }
  }
  // The start check logged the formula's figures.
  const auto log = c.pods()[0]->log();
  CHECK(log.find("\"event\":\"connection_budget\"") != std::string::npos);
  CHECK(log.find(fmt::format("\"per_pod\":{}", kPerPod)) != std::string::npos);
  CHECK(log.find(fmt::format("\"pods\":{}", kPods)) != std::string::npos);
  std::printf("connection budget: %d accounts, %d pods, max sessions per pod:", kAccounts, kPods);
  for (const auto& [pod, n] : max_per_pod) std::printf(" %s=%lld", pod.c_str(), static_cast<long long>(n));
  std::printf(", max total %lld (budget %lld per pod)\n", static_cast<long long>(max_total),
              static_cast<long long>(kPerPod));
}

}  // namespace wa::e2e
