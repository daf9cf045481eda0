// A database per tenant end to end: PostgreSQL with two databases (control + the account's own),
// wasim, and `waconnector run` replicas. The account is registered with `accounts add
// --database-url-for-tenant` (password from a file), paired by a virtual phone, receives and sends
// through wasim, and fails over (SIGKILL of the leader); its device, Signal, inbox and outbox rows
// are in the tenant database and not in the control one, the election's are in the control one,
// every lease's epoch reaches the tenant database, and a write with the old leader's epoch is
// refused by the tenant database.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "../app/http_client.h"
#include "cluster.h"
#include "store/errors.h"
#include "store/fenced_write.h"
#include "store/outbox.h"
#include "store/tokens.h"
#include "traffic.h"

namespace wa::e2e {
namespace {

struct PipeClose {
  void operator()(FILE* f) const { pclose(f); }
};

// Runs a command; returns its exit code and output (stdout + stderr).
int run(const std::string& cmd, std::string& out) {
  std::unique_ptr<FILE, PipeClose> p(popen((cmd + " 2>&1").c_str(), "r"));
  REQUIRE(p);
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p.get())) out.append(buf, n);
  const int rc = pclose(p.release());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::int64_t count(const hatest::TestDb& db, const std::string& sql) {
  auto c = db.connect("count");
  return c.exec("count", sql.c_str()).i64(0, 0);
}

}  // namespace

TEST_CASE("tenant e2e: a paired account whose data lives in its own database sends, receives and fails over",
          "[pg][e2e][tenant]") {
  hatest::TestDb tenant;  // migrated already; `accounts add` migrates again (nothing to do)
  Cluster c({}, 0);
  // The fixture registered the account plainly; register it again with its own database.
  c.db().connect("reset").exec("drop the plain account",
                               "DELETE FROM wa_accounts WHERE business_id = 'acme'");
  const auto bin = hatest::bin_dir() + "/waconnector";
  const auto pw = fmt::format("/tmp/waconn-tenant-e2e-pw-{}", getpid());
  std::ofstream(pw) << "tenant-password-from-a-file\n";

  // A URL with a password is refused (it would be stored in clear), and the password not echoed.
  std::string out;
  CHECK(run(fmt::format("'{}' accounts add --database-url '{}' --business-id acme --database-url-for-tenant "
                        "'postgresql://u:s3cr3t-pw@127.0.0.1:1/x'",
                        bin, c.db().url()),
            out) != 0);
  CHECK_THAT(out, Catch::Contains("--tenant-password-file"));
  CHECK(out.find("s3cr3t-pw") == std::string::npos);
  out.clear();
  const int added = run(fmt::format("'{}' accounts add --database-url '{}' --business-id acme "
                                    "--database-url-for-tenant '{}' --tenant-password-file '{}'",
                                    bin, c.db().url(), tenant.url(), pw),
                        out);
  INFO(out);
  REQUIRE(added == 0);
  CHECK(count(c.db(), "SELECT count(*) FROM wa_tenants WHERE password_file IS NOT NULL") == 1);
  CHECK(count(c.db(), "SELECT count(*) FROM wa_tenants WHERE database_url LIKE '%tenant-password%'") == 0);

  c.add_pod();
  c.add_pod();
  const auto jid = c.pair("+15550009301");
  REQUIRE(!jid.empty());
  CHECK(c.account().jid == jid);  // the registry row (jid, status) is in the control database

  // Receive: a phone writes to the account; the inbox is the tenant's (`messages list` against it).
  const std::string phone = "+15550009302";
  std::string reply;
  REQUIRE(c.admin_post("/admin/phones", fmt::format("{{\"phone\":\"{}\"}}", phone), &reply) < 300);
  const auto to = user_jid_of_device(jid);
  for (int i = 0; i < 3; ++i)
    REQUIRE(phone_send(c.wasim().admin_port(), phone, to, fmt::format("in {}", i)).status == 200);
  REQUIRE(hatest::wait_for([&] { return count(tenant, "SELECT count(*) FROM wa_inbox") >= 3; }, 30s));
  std::string err;
  const auto listed = inbox(tenant.url(), Cluster::kAccount, &err);
  INFO(err);
  REQUIRE(listed);
  CHECK(listed->size() == 3);

  // Send: queued in the tenant database, claimed and sent by the leader, received by the phone.
  const auto send = [&](const std::string& text) {
    auto tc = tenant.connect("enqueue");
    store::enqueue(tc, {.business_id = Cluster::kAccount, .recipient = user_jid_of_phone(phone), .text = text});
  };
  send("out 0");
  const auto phone_got = [&](const std::string& text) {
    auto got = phone_messages(c.wasim().admin_port(), phone);
    if (!got) return false;
    for (const auto& m : *got)
      if (m.text == text) return true;
    return false;
  };
  REQUIRE(hatest::wait_for([&] { return phone_got("out 0"); }, 30s));

  // Where the rows are: the data plane in the tenant database only; the election in the control one.
  for (const char* table :
       {"wa_devices", "wa_device_pre_keys", "wa_signal_sessions", "wa_inbox", "wa_outbox"}) {
    INFO(table);
    CHECK(count(tenant, fmt::format("SELECT count(*) FROM {}", table)) > 0);
    CHECK(count(c.db(), fmt::format("SELECT count(*) FROM {}", table)) == 0);
  }
  CHECK(count(c.db(), "SELECT count(*) FROM ha_members") > 0);
  CHECK(count(tenant, "SELECT count(*) FROM ha_members") == 0);
  const auto old_epoch = c.account().lease_epoch;
  CHECK(count(tenant, "SELECT lease_epoch FROM wa_accounts") == old_epoch);

  // Failover: the leader dies; the other pod takes over, copies its epoch, and carries on with the
  // same device and sessions from the tenant database.
  const int first = c.logged_in_pod();
  REQUIRE(first >= 0);
  c.pods()[static_cast<std::size_t>(first)]->signal(SIGKILL);
  const int second = c.wait_logged_in(40s, first);
  REQUIRE(second >= 0);
  const auto new_epoch = c.account().lease_epoch;
  CHECK(new_epoch > old_epoch);
  CHECK(count(tenant, "SELECT lease_epoch FROM wa_accounts") == new_epoch);
  phone_send(c.wasim().admin_port(), phone, to, "in after failover");
  REQUIRE(hatest::wait_for([&] { return count(tenant, "SELECT count(*) FROM wa_inbox") >= 4; }, 30s));
  // Through the REST interface of a pod: queued in the tenant database, and the leader woken through
  // the control database (the tenant's NOTIFY reaches no pod).
  const auto token = [&] {
    auto cc = c.db().connect("token");
    return store::create_token(cc, Cluster::kAccount, "tenant-e2e").secret_token;
  }();
  const auto posted = test::http_request(
      c.pods()[static_cast<std::size_t>(second)]->http_port(), "POST",
      std::string("/v1/accounts/") + Cluster::kAccount + "/messages",
      fmt::format(R"({{"to":"{}","text":"out after failover"}})", user_jid_of_phone(phone)),
      "Authorization: Bearer " + token + "\r\nContent-Type: application/json\r\n");
  INFO(posted.body);
  REQUIRE(posted.status == 202);
  REQUIRE(hatest::wait_for([&] { return phone_got("out after failover"); }, 30s));
  CHECK(count(tenant, "SELECT count(*) FROM wa_outbox WHERE text = 'out after failover'") == 1);
  CHECK(count(c.db(), "SELECT count(*) FROM wa_outbox") == 0);
  const auto inbox_answer = test::http_request(c.pods()[static_cast<std::size_t>(second)]->http_port(), "GET",
                                               std::string("/v1/accounts/") + Cluster::kAccount + "/inbox",
                                               {}, "Authorization: Bearer " + token + "\r\n");
  CHECK(inbox_answer.status == 200);
  CHECK(inbox_answer.body.find("in after failover") != std::string::npos);
  CHECK(count(c.db(), "SELECT count(*) FROM wa_pairings") == 1);  // no second pairing
  CHECK(count(tenant, "SELECT count(*) FROM wa_devices") == 1);
  CHECK(count(c.db(), "SELECT count(*) FROM wa_inbox") == 0);

  // The old leader's epoch is refused by the tenant database, in the write's own transaction.
  auto tc = tenant.connect("stale writer");
  CHECK_THROWS_AS(store::fenced_write(tc, Cluster::kAccount, old_epoch, "stale write",
                                      [](pg::Connection& x) { x.exec("stale", "DELETE FROM wa_inbox"); }),
                  store::EpochMoved);
  CHECK(count(tenant, "SELECT count(*) FROM wa_inbox") >= 4);
  const auto log = c.pods()[static_cast<std::size_t>(second)]->log();
  CHECK(log.find("tenant_lease_copied") != std::string::npos);
  CHECK(log.find("tenant-password-from-a-file") == std::string::npos);

  // The registry's account events (control database) are relayed into the tenant database by the
  // leader, where the account's SSE stream and webhooks read them; the epoch copies add none.
  CHECK(hatest::wait_for(
      [&] {
        return count(tenant, "SELECT count(*) FROM wa_events WHERE type = 'account.status'") > 0 &&
               count(tenant,
                     "SELECT count(*) FROM wa_events WHERE type = 'account.leader' AND data->>'new_pod' = '" +
                         c.pods()[static_cast<std::size_t>(second)]->pod() + "'") == 1;
      },
      15s));
  CHECK(count(tenant,
              "SELECT count(*) FROM wa_events WHERE type = 'account.leader' AND data->>'new_pod' IS NULL") ==
        0);
  CHECK(log.find("tenant_round_failed") == std::string::npos);

  // accounts remove: the pods stopped, the account goes from both databases.
  for (auto& p : c.pods()) p->signal(SIGKILL);
  out.clear();
  const int removed =
      run(fmt::format("'{}' accounts remove --database-url '{}' --business-id acme --yes --wait 2s", bin,
                      c.db().url()),
          out);
  INFO(out);
  CHECK(removed == 0);
  CHECK_THAT(out, Catch::Contains("tenant database"));
  for (const char* table : {"wa_accounts", "wa_devices", "wa_device_pre_keys", "wa_signal_sessions",
                            "wa_inbox", "wa_outbox", "wa_events"}) {
    INFO(table);
    CHECK(count(tenant, fmt::format("SELECT count(*) FROM {}", table)) == 0);
  }
  CHECK(count(c.db(), "SELECT count(*) FROM wa_tenants") == 0);
  CHECK(count(c.db(), "SELECT count(*) FROM wa_accounts") == 0);
  std::remove(pw.c_str());
}

}  // namespace wa::e2e
