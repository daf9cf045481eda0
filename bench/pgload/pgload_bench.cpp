// PostgreSQL load at steady state (issue 10: it must not grow with accounts). N idle logged-in
// accounts on one wasim, served by P pods of `waconnector run` on the e2e fixture; for each N of
// WACONN_PGLOAD_ACCOUNTS (ascending, default "3,30,300": the accounts of a step are added to
// those already paired) it pairs the new accounts, waits until every account is logged in and
// the pods are quiet, then over WACONN_PGLOAD_WINDOW_S (20) seconds prints
//   transactions/s    pg_stat_database (xact_commit + xact_rollback) of the bench database
//   statements/s      pg_stat_statements calls in the bench database (BEGIN/COMMIT included)
//   top statements    by calls/s, with the mean rows each returned
// Prints, it does not judge. Needs pg_stat_statements preloaded and created in the database of
// WACONN_TEST_DATABASE_URL (bench/pgload/run.sh starts such a cluster).
// Environment: WACONN_PGLOAD_ACCOUNTS, WACONN_PGLOAD_PODS (3), WACONN_PGLOAD_WINDOW_S (20),
// WACONN_PGLOAD_SETTLE_S (10), WACONN_PGLOAD_TOP (15), WACONN_PGLOAD_IO_THREADS (pods' default).
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "cluster.h"
#include "fleet_pairing.h"
#include "store/accounts.h"

namespace wa::pgload {
namespace {

using namespace std::chrono_literals;

// The numbers in environment variable `name` (comma-separated), or in `dflt` when it is unset.
std::vector<int> env_numbers(const char* name, const char* dflt) {
  const char* v = std::getenv(name);
  std::stringstream in(v == nullptr || *v == '\0' ? dflt : v);
  std::vector<int> out;
  for (std::string part; std::getline(in, part, ',');)
    out.push_back(std::atoi(part.c_str()));
  return out;
}

int env_int(const char* name, int dflt) {
  const auto v = env_numbers(name, std::to_string(dflt).c_str());
  return v.empty() ? dflt : v.front();
}

std::vector<int> env_steps() {
  auto steps = env_numbers("WACONN_PGLOAD_ACCOUNTS", "3,30,300");
  std::erase_if(steps, [](int n) { return n <= 0; });
  std::sort(steps.begin(), steps.end());
  return steps;
}

std::string account_id(int i) {
  return fmt::format("load-{:05}", i);
}

// One pod's whole counter set, read at the start and the end of the window.
struct Counters {
  std::int64_t xacts = 0;
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> calls_rows;  // query -> calls, rows
};

class Load {
 public:
  explicit Load(int pods) {
    args_ = {"--database-url", db_.url(), "--wa-url", wasim_.ws_url(), "--wa-root-key", wasim_.root_key_hex()};
    if (const int t = env_int("WACONN_PGLOAD_IO_THREADS", -1); t >= 0) {
      args_.push_back("--io-threads");
      args_.push_back(std::to_string(t));
    }
    for (int i = 0; i < pods; ++i)
      pods_.push_back(std::make_unique<hatest::Replica>(fmt::format("pod-{}", i), args_));
    auto admin = pg::Connection::open(hatest::base_url(), "pgload admin");
    admin_ = std::move(admin);
    auto r = admin_.exec("bench database oid", "SELECT oid FROM pg_database WHERE datname = $1",
                         {pg::Param(database_name())});
    dbid_ = r.i64(0, 0);
  }

  std::string database_name() {
    auto c = db_.connect("database name");
    return c.exec("name", "SELECT current_database()").opt(0, 0).value_or("");
  }

  // Registers accounts [count, n) and pairs each with a virtual phone of its own; false when not
  // all paired in `timeout`.
  bool grow_to(int n, std::chrono::milliseconds timeout) {
    {
      auto c = db_.connect("register accounts");
      for (int i = accounts_; i < n; ++i) store::add_account(c, account_id(i), std::nullopt);
    }
    accounts_ = n;
    const auto paired = e2e::pair_published(db_, wasim_, n, timeout, [](const std::string& id) {
      return fmt::format("+1557{:07}", std::stoi(id.substr(5)));
    });
    std::cout << fmt::format("pgload: {} of {} accounts paired and connected\n", paired, n);
    return paired >= n;
  }

  // Logged-in accounts over all pods' /status.
  int logged_in() {
    int n = 0;
    for (auto& p : pods_) n += e2e::logged_in_count(*p);
    return n;
  }

  Counters read() {
    Counters out;
    admin_.exec("flush", "SELECT pg_stat_clear_snapshot()");
    out.xacts = admin_.exec("xacts", "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datid = $1",
                            {pg::Param(dbid_)})
                    .i64(0, 0);
    auto r = admin_.exec("statements",
                         "SELECT query, sum(calls)::bigint, sum(rows)::bigint FROM pg_stat_statements WHERE dbid = $1 "
                         "GROUP BY query",
                         {pg::Param(dbid_)});
    for (int i = 0; i < r.rows(); ++i) out.calls_rows[std::string(r.text(i, 0))] = {r.i64(i, 1), r.i64(i, 2)};
    return out;
  }

  void measure(int n, std::chrono::seconds window, int top) {
    const auto a = read();
    std::this_thread::sleep_for(window);
    const auto b = read();
    const double secs = static_cast<double>(window.count());
    struct Row {
      double per_s;
      double rows_per_call;
      std::string query;
    };
    std::vector<Row> rows;
    std::int64_t calls = 0;
    for (const auto& [q, cr] : b.calls_rows) {
      auto before = a.calls_rows.find(q);
      const auto c0 = before == a.calls_rows.end() ? 0 : before->second.first;
      const auto r0 = before == a.calls_rows.end() ? 0 : before->second.second;
      const auto dc = cr.first - c0;
      if (dc <= 0) continue;
      calls += dc;
      rows.push_back({static_cast<double>(dc) / secs, static_cast<double>(cr.second - r0) / static_cast<double>(dc), q});
    }
    std::sort(rows.begin(), rows.end(), [](const Row& x, const Row& y) { return x.per_s > y.per_s; });
    std::cout << fmt::format(
        "pgload: [{} accounts, {} pods] transactions/s {:.1f}, statements/s {:.1f} ({} s window, {} logged in)\n", n,
        pods_.size(), static_cast<double>(b.xacts - a.xacts) / secs, static_cast<double>(calls) / secs,
        window.count(), logged_in());
    for (int i = 0; i < top && i < static_cast<int>(rows.size()); ++i) {
      std::string q = rows[static_cast<std::size_t>(i)].query;
      std::replace(q.begin(), q.end(), '\n', ' ');
      q.erase(std::unique(q.begin(), q.end(), [](char x, char y) { return x == ' ' && y == ' '; }), q.end());
      if (q.size() > 150) q = q.substr(0, 150) + "...";
      std::cout << fmt::format("pgload:   {:8.2f}/s  {:7.1f} rows/call  {}\n", rows[static_cast<std::size_t>(i)].per_s,
                               rows[static_cast<std::size_t>(i)].rows_per_call, q);
    }
  }

 private:
  hatest::TestDb db_;
  e2e::Wasim wasim_;
  std::vector<std::string> args_;
  std::vector<std::unique_ptr<hatest::Replica>> pods_;
  pg::Connection admin_;
  std::int64_t dbid_ = 0;
  int accounts_ = 0;
};

TEST_CASE("pgload bench", "[.pgload]") {
  std::cout << std::unitbuf;
  const auto steps = env_steps();
  const int pods = env_int("WACONN_PGLOAD_PODS", 3);
  const auto window = std::chrono::seconds(env_int("WACONN_PGLOAD_WINDOW_S", 20));
  const auto settle = std::chrono::seconds(env_int("WACONN_PGLOAD_SETTLE_S", 10));
  const int top = env_int("WACONN_PGLOAD_TOP", 15);
  Load load(pods);
  for (const int n : steps) {
    const auto budget = std::chrono::seconds(std::max(120, 2 * n));
    REQUIRE(load.grow_to(n, budget));
    const bool all = hatest::wait_for([&] { return load.logged_in() >= n; }, budget);
    std::cout << fmt::format("pgload: {} accounts: all logged in: {}\n", n, all ? "yes" : "NO");
    REQUIRE(all);
    std::this_thread::sleep_for(settle);  // handovers and first sweeps over
    load.measure(n, window, top);
  }
}

}  // namespace
}  // namespace wa::pgload
