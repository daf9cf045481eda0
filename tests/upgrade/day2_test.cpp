// Day-2 account commands against running replicas: `accounts step-down` moves one account to
// another pod and leaves the others where they are; `accounts remove` deletes an account that is
// being led, and every pod drops its metric series (so NoLeader does not fire for it forever).
#include <sys/wait.h>

#include <cstdio>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "support.h"

namespace wa::upgrade {
namespace {

using namespace std::chrono_literals;
using hatest::Replica;
using hatest::wait_for;

struct CmdResult {
  int rc = -1;
  std::string out;  // stdout and stderr
};

CmdResult cli(const std::string& args) {
  const std::string cmd = fmt::format("{}/waconnector {} 2>&1", hatest::bin_dir(), args);
  FILE* f = popen(cmd.c_str(), "r");
  REQUIRE(f != nullptr);
  CmdResult r;
  char buf[512];
  while (fgets(buf, sizeof buf, f) != nullptr) r.out += buf;
  const int st = pclose(f);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// The pod whose lock session holds the account's lock, from the registry ("" if none).
std::string leader_of(const hatest::TestDb& db, const std::string& id) {
  auto c = db.connect("who leads");
  auto r = c.exec("leader",
                  "SELECT coalesce(a.assigned_pod, '') FROM wa_accounts a WHERE business_id = $1"
                  " AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted"
                  " AND l.objsubid = 1 AND ((l.classid::bigint << 32) | l.objid::bigint) = a.lock_key)",
                  {id});
  return r.rows() == 1 ? std::string(r.text(0, 0)) : std::string();
}

}  // namespace

TEST_CASE("accounts step-down moves one account - accounts remove deletes a led account and its series",
          "[pg][process][day2]") {
  hatest::TestDb db;
  db.add_account("acme");
  db.add_account("beta");
  const std::string url = "--database-url '" + db.url() + "'";
  // Before any pod runs, nobody leads: step-down says so and fails.
  {
    auto r0 = cli("accounts step-down " + url + " --business-id acme");
    CHECK(r0.rc == 1);
    CHECK(r0.out.find("business acme has no leader") != std::string::npos);
  }
  std::vector<std::unique_ptr<Replica>> pods;
  for (int i = 0; i < 2; ++i)
    pods.push_back(std::make_unique<Replica>(fmt::format("d-{}", i), std::vector<std::string>{
                                                                         "--database-url", db.url(), "--poll-interval",
                                                                         "200ms"}));
  REQUIRE(wait_for([&] { return !leader_of(db, "acme").empty() && !leader_of(db, "beta").empty(); }, 20s));

  // Clear errors first.
  auto r = cli("accounts step-down " + url + " --business-id nobody");
  CHECK(r.rc == 1);
  CHECK(r.out.find("business nobody is not registered") != std::string::npos);
  r = cli("accounts remove " + url + " --business-id acme");
  CHECK(r.rc == 2);
  CHECK(r.out.find("pass --yes to confirm") != std::string::npos);

  // step-down: acme moves, beta stays.
  const std::string acme_before = leader_of(db, "acme"), beta_before = leader_of(db, "beta");
  r = cli("accounts step-down " + url + " --business-id acme");
  INFO(r.out);
  REQUIRE(r.rc == 0);
  CHECK(r.out.find(fmt::format("pod {} stepped down from business acme", acme_before)) != std::string::npos);
  CHECK(wait_for([&] { const auto l = leader_of(db, "acme"); return !l.empty() && l != acme_before; }, 10s));
  CHECK(leader_of(db, "beta") == beta_before);
  const auto& stepped = *pods[static_cast<std::size_t>(acme_before.back() - '0')];
  CHECK(stepped.log().find("step_down_requested") != std::string::npos);

  // remove: a led account goes; its series go from every pod; beta is untouched.
  r = cli("accounts remove " + url + " --business-id acme --yes");
  INFO(r.out);
  REQUIRE(r.rc == 0);
  CHECK(r.out.find("removed business acme") != std::string::npos);
  {
    auto c = db.connect("check");
    CHECK(c.exec("gone", "SELECT count(*) FROM wa_accounts WHERE business_id = 'acme'").i64(0, 0) == 0);
  }
  for (auto& p : pods) {
    INFO("pod " << p->pod());
    CHECK(wait_for(
        [&] {
          const auto m = hatest::http_get(p->http_port(), "/metrics").body;
          return m.find("business_id=\"acme\"") == std::string::npos && m.find("business_id=\"beta\"") != std::string::npos;
        },
        10s));
  }
  CHECK(leader_of(db, "beta") == beta_before);
  r = cli("accounts step-down " + url + " --business-id acme");
  CHECK(r.rc == 1);
  CHECK(r.out.find("business acme is not registered") != std::string::npos);
}

}  // namespace wa::upgrade
