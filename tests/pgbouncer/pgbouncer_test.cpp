// PgBouncer in front of the database (issue 10): the pod's store pool works through transaction
// pooling (a paired account's device writes, its received messages and an outbound message all
// go through PgBouncer, with no pool session straight to the server), while the lock, liveness
// and notify sessions use --lock-database-url directly. A lock URL that reaches transaction
// pooling is refused at start with the reason; a session-mode pool is accepted.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <memory>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "cluster.h"
#include "pgbouncer.h"
#include "store/outbox.h"
#include "traffic.h"

namespace wa::e2e {
namespace {

using pgbtest::PgBouncer;

std::string phone(int n) { return fmt::format("+1555{:07d}", 3000 + n); }

void start_pods(Cluster& c, const std::vector<std::string>& extra, int n) {
  auto args = c.args();
  args.insert(args.end(), extra.begin(), extra.end());
  for (int i = 0; i < n; ++i)
    c.pods().push_back(std::make_unique<hatest::Replica>(fmt::format("pod-{}", c.pods().size()), args));
}

std::string create_phone(Cluster& c, const std::string& p) {
  std::string reply;
  const int st = c.admin_post("/admin/phones", fmt::format("{{\"phone\":\"{}\"}}", p), &reply);
  INFO(reply);
  REQUIRE(st >= 200);
  REQUIRE(st < 300);
  return p;
}

std::string cli(const std::string& args, int* code) {
  const std::string cmd = "WACONN_LOG_LEVEL=error '" + hatest::bin_dir() + "/waconnector' " + args + " 2>&1";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int st = pclose(p);
  *code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

// Server sessions named `pattern` (LIKE) that reach the server straight from a pod (the test
// cluster's URL is a unix socket: client_addr NULL) or through PgBouncer (TCP from 127.0.0.1).
std::int64_t sessions(Cluster& c, const std::string& pattern, bool direct) {
  auto conn = c.db().connect("count sessions");
  return conn
      .exec("count sessions",
            direct ? "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                     " AND application_name LIKE $1 AND client_addr IS NULL AND pid <> pg_backend_pid()"
                   : "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                     " AND application_name LIKE $1 AND client_addr IS NOT NULL",
            {pattern})
      .i64(0, 0);
}

}  // namespace

TEST_CASE("pgbouncer: the store pool works through transaction pooling, lock and LISTEN stay direct",
          "[pg][e2e][pgbouncer]") {
  Cluster c({}, 0);
  PgBouncer pgb(c.db().url(), "transaction");
  start_pods(c, {"--database-url", pgb.url(), "--lock-database-url", c.db().url()}, 2);
  const auto before = pgb.transactions();

  // Pairing: the leader's QR, device keys, pre-keys and the pairing transaction are store-pool
  // writes; the standby serves the QR from the same pool.
  const auto jid = c.pair(phone(1));
  int leader = -1;
  REQUIRE(hatest::wait_for(
      [&] {
        leader = c.logged_in_pod();
        return leader >= 0 && c.pods()[static_cast<std::size_t>(leader)]->log().find("wa_client_prekeys_uploaded") !=
                                  std::string::npos;
      },
      20s));
  const auto& pod = *c.pods()[static_cast<std::size_t>(leader)];
  INFO("leader log: " << pod.log().substr(0, 20000));
  CHECK(pgb.transactions() > before);

  // Inbound: decrypt transactions (Signal state + inbox row, epoch-fenced) through PgBouncer.
  const auto alice = create_phone(c, phone(2));
  const auto to = user_jid_of_device(jid);
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    const auto r = phone_send(c.wasim().admin_port(), alice, to, fmt::format("through the pool {}", i));
    INFO(r.reply);
    REQUIRE(r.status == 200);
    ids.push_back(r.id);
  }
  std::vector<InboxRow> rows;
  REQUIRE(hatest::wait_for(
      [&] {
        auto got = inbox(c.db().url(), Cluster::kAccount);
        if (got) rows = *got;
        return rows.size() >= ids.size();
      },
      30s));
  REQUIRE(rows.size() == ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) CHECK(rows[i].id == ids[i]);
  CHECK(pod.log().find("\"outcome\":\"failed\"") == std::string::npos);

  // Outbound: queued through PgBouncer too (its NOTIFY commits with the row), sent by the leader,
  // delivered (the phone's receipt updates the row through the pool).
  int code = 0;
  const auto out = cli(fmt::format("messages send --database-url '{}' --business-id {} --to {} --text 'out via pool' "
                                   "--id 3EB0B0CC0000000000000001",
                                   pgb.url(), Cluster::kAccount, user_jid_of_phone(alice)),
                       &code);
  INFO(out);
  REQUIRE(code == 0);
  CHECK(hatest::wait_for(
      [&] {
        auto conn = c.db().connect("outbox status");
        auto m = store::find_outbox(conn, Cluster::kAccount, "3EB0B0CC0000000000000001");
        return m && m->status == "delivered";
      },
      30s));

  // Every pod's pool went through PgBouncer: none of its sessions reached the server directly,
  // while the lock, liveness and notify sessions did (one each per pod).
  CHECK(pgb.clients(fmt::format("waconnector/{}/pool", pod.pod())) >= 1);
  CHECK(sessions(c, "waconnector/%/pool", true) == 0);
  CHECK(sessions(c, "waconnector/%/lock", true) == 2);
  CHECK(sessions(c, "waconnector/%/live", true) == 2);
  CHECK(sessions(c, "waconnector/%/notify", true) == 2);
  CHECK(sessions(c, "waconnector/%/lock", false) == 0);
  CHECK(pgb.transactions() > before + 20);
}

TEST_CASE("pgbouncer: a lock URL through transaction pooling is refused at start with the reason",
          "[pg][e2e][pgbouncer]") {
  hatest::TestDb db;
  db.add_account("acme");
  PgBouncer pgb(db.url(), "transaction", 4);

  // The lock URL defaults to --database-url: the whole pod behind transaction pooling.
  {
    hatest::Replica r("pod-0", {"--database-url", pgb.url(), "--business-id", "acme"});
    const auto exit = r.wait_exit(20s);
    INFO(r.log());
    REQUIRE(exit);
    CHECK(*exit == 2);
    CHECK(r.log().find("--database-url (also the lock URL)") != std::string::npos);
    CHECK(r.log().find("transaction-pooling proxy") != std::string::npos);
    CHECK(r.log().find("advisory locks") != std::string::npos);
  }
  // An explicit lock URL through it: named as such.
  {
    hatest::Replica r("pod-0", {"--database-url", db.url(), "--lock-database-url", pgb.url(), "--business-id", "acme"});
    const auto exit = r.wait_exit(20s);
    INFO(r.log());
    REQUIRE(exit);
    CHECK(*exit == 2);
    CHECK(r.log().find("--lock-database-url: ") != std::string::npos);
    CHECK(r.log().find("transaction-pooling proxy") != std::string::npos);
  }
  // Nothing was led: no lease began.
  auto c = db.connect();
  CHECK(c.exec("epoch", "SELECT lease_epoch FROM wa_accounts WHERE business_id = 'acme'").i64(0, 0) == 0);
}

TEST_CASE("pgbouncer: a session-mode pool is a valid lock URL", "[pg][e2e][pgbouncer]") {
  hatest::TestDb db;
  db.add_account("acme");
  PgBouncer pgb(db.url(), "session", 10);
  hatest::Replica r("pod-0", {"--database-url", pgb.url(), "--business-id", "acme"});
  INFO(r.log());
  REQUIRE(hatest::wait_for(
      [&] {
        auto c = db.connect();
        return c.exec("epoch", "SELECT lease_epoch FROM wa_accounts WHERE business_id = 'acme'").i64(0, 0) > 0;
      },
      20s));
  CHECK(r.running());
  CHECK(pgb.clients("waconnector/pod-0/lock") == 1);
}

}  // namespace wa::e2e
