// A database per tenant (store/tenants.h), store level, with two real databases: the account
// registered with its tenant database in one step, the epoch copied at each lease and checked in
// the tenant's own transactions (a stale writer is refused there), the device rows split from the
// registry row, passwords never stored, and the per-tenant pools bounded and closed when idle.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include <unistd.h>

#include "core/client/device.h"
#include "store/accounts.h"
#include "store/device_store.h"
#include "store/errors.h"
#include "store/fenced_write.h"
#include "store/sealing.h"
#include "store/tenants.h"
#include "tests/store/test_db.h"

using namespace wa;

namespace {

std::int64_t count(pg::Connection& c, const char* sql) {
  return c.exec("test: count", sql).i64(0, 0);
}

struct TwoDatabases {
  test::TestDatabase control;
  test::TestDatabase tenant{false};  // not migrated: add_tenant_account does it
  pg::Connection cc = control.connect("control");
  pg::Connection tc = tenant.connect("tenant");
  store::TenantDatabase t{"acme", tenant.url(), std::nullopt};
};

}  // namespace

TEST_CASE("tenant: accounts add migrates the tenant database and records it in the same step",
          "[pg][tenant]") {
  TwoDatabases d;
  const auto a = store::add_tenant_account(d.cc, d.tc, d.t, std::nullopt);
  CHECK(a.business_id == "acme");
  auto got = store::tenant_database(d.cc, "acme");
  REQUIRE(got);
  CHECK(got->database_url == d.tenant.url());
  CHECK(count(d.tc, "SELECT count(*) FROM wa_schema_migrations") ==
        count(d.cc, "SELECT count(*) FROM wa_schema_migrations"));
  CHECK(count(d.tc, "SELECT count(*) FROM wa_accounts WHERE business_id = 'acme' AND lease_epoch = 0") == 1);
  // A second account whose registration fails leaves no mapping behind (one transaction).
  CHECK_THROWS_AS(store::add_tenant_account(d.cc, d.tc, d.t, std::nullopt), store::AlreadyExists);
  CHECK(count(d.cc, "SELECT count(*) FROM wa_tenants") == 1);
  // No password is ever stored: the schema refuses a URL that carries one.
  CHECK_THROWS_AS(d.cc.exec("test: a password in the URL",
                            "UPDATE wa_tenants SET database_url = 'postgresql://u:pw@h/db'"),
                  pg::Error);
  CHECK_THROWS_AS(d.cc.exec("test: a password parameter",
                            "UPDATE wa_tenants SET database_url = 'host=h dbname=db password=pw'"),
                  pg::Error);
}

TEST_CASE("tenant: the lease epoch is copied into the tenant database and a stale writer is refused there",
          "[pg][tenant]") {
  TwoDatabases d;
  store::add_tenant_account(d.cc, d.tc, d.t, std::nullopt);
  // Leader A: its lease in the control database, its epoch copied into the tenant's.
  const auto ea = store::begin_lease(d.cc, "acme", "pod-a").epoch;
  store::copy_lease_epoch(d.tc, "acme", ea);
  store::fenced_write(d.tc, "acme", ea, "test write", [](pg::Connection&) {});
  // Leader B takes over: control first, then the copy. A's next tenant write is refused by the
  // tenant database itself, in the write's own transaction.
  const auto eb = store::begin_lease(d.cc, "acme", "pod-b").epoch;
  REQUIRE(eb > ea);
  store::copy_lease_epoch(d.tc, "acme", eb);
  CHECK(count(d.tc, "SELECT lease_epoch FROM wa_accounts") == eb);
  try {
    store::fenced_write(d.tc, "acme", ea, "stale write", [](pg::Connection& c) {
      c.exec("test", "UPDATE wa_accounts SET updated_at = now()");
    });
    FAIL("a stale epoch wrote to the tenant database");
  } catch (const store::EpochMoved& e) {
    CHECK(e.held_epoch() == ea);
    CHECK(e.current_epoch() == std::optional<std::int64_t>(eb));
  }
  store::fenced_write(d.tc, "acme", eb, "current write", [](pg::Connection&) {});
  // A copy of an older epoch (A's late copy) never lowers it and is refused.
  CHECK_THROWS_AS(store::copy_lease_epoch(d.tc, "acme", ea), store::EpochMoved);
  CHECK(count(d.tc, "SELECT lease_epoch FROM wa_accounts") == eb);
  store::copy_lease_epoch(d.tc, "acme", eb);  // idempotent

  // The copy waits for an in-flight write of the old epoch (it holds the row FOR SHARE): after the
  // copy returned, no write of the old epoch can land.
  const auto ec = store::begin_lease(d.cc, "acme", "pod-c").epoch;
  auto slow = d.tenant.connect("slow writer");
  std::atomic<bool> in_write{false};
  std::thread writer([&] {
    store::fenced_write(slow, "acme", eb, "slow write", [&](pg::Connection&) {
      in_write = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    });
  });
  while (!in_write) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto t0 = std::chrono::steady_clock::now();
  store::copy_lease_epoch(d.tc, "acme", ec);
  CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(200));
  writer.join();
  CHECK_THROWS_AS(store::fenced_write(slow, "acme", eb, "late write", [](pg::Connection&) {}),
                  store::EpochMoved);
}

TEST_CASE("tenant: device rows live in the tenant database, the registry row in the control database",
          "[pg][tenant]") {
  TwoDatabases d;
  store::add_tenant_account(d.cc, d.tc, d.t, std::nullopt);
  const auto e = store::begin_lease(d.cc, "acme", "pod-a").epoch;
  store::copy_lease_epoch(d.tc, "acme", e);
  auto fence = std::make_shared<store::WriteFence>("acme", e);
  store::PgDeviceStore s(d.cc, fence, &d.tc);
  auto dev = client::DeviceKeys::generate();
  s.save_device(dev);
  s.save_pre_keys({{1, crypto::KeyPair::generate(), false}});
  s.set_qr("ref,qr", std::chrono::system_clock::now() + std::chrono::seconds(60));
  dev.jid = "15550001:3@s.whatsapp.net";
  s.save_device(dev);
  s.set_paired(dev.jid);
  CHECK(count(d.tc, "SELECT count(*) FROM wa_devices WHERE jid = '15550001:3@s.whatsapp.net'") == 1);
  CHECK(count(d.tc, "SELECT count(*) FROM wa_device_pre_keys") == 1);
  CHECK(count(d.cc, "SELECT count(*) FROM wa_devices") == 0);
  CHECK(count(d.cc, "SELECT count(*) FROM wa_device_pre_keys") == 0);
  CHECK(count(d.cc, "SELECT count(*) FROM wa_accounts WHERE jid = '15550001:3@s.whatsapp.net'") == 1);
  CHECK(count(d.tc, "SELECT count(*) FROM wa_accounts WHERE jid IS NULL AND qr_code IS NULL") == 1);
  REQUIRE(s.load_device());
  CHECK(s.load_device()->noise_key.priv == dev.noise_key.priv);
  s.report_connected(false);
  CHECK(count(d.cc, "SELECT count(*) FROM wa_accounts WHERE status = 'connected'") == 1);

  SECTION("logged out: the device unusable in the tenant database, the account in the control one") {
    s.report_disconnected(core::DisconnectReason::logged_out, "test");
    CHECK(count(d.tc, "SELECT count(*) FROM wa_devices WHERE NOT usable") == 1);
    CHECK(count(d.cc, "SELECT count(*) FROM wa_accounts WHERE status = 'logged_out'") == 1);
    CHECK(!s.load_device());
    return;
  }

  // A new leader whose epoch was copied: the old store's writes to the tenant are refused.
  const auto e2 = store::begin_lease(d.cc, "acme", "pod-b").epoch;
  store::copy_lease_epoch(d.tc, "acme", e2);
  CHECK_THROWS_AS(s.save_pre_keys({{2, crypto::KeyPair::generate(), false}}), client::StoreFenced);
  CHECK(count(d.tc, "SELECT count(*) FROM wa_device_pre_keys") == 1);
}

TEST_CASE(
    "tenant: the password comes from the file at every connection, pools are bounded and close when idle",
    "[pg][tenant]") {
  test::TestDatabase a(false), b(false);
  const auto pw = "/tmp/waconn-tenant-pw-" + std::to_string(getpid());
  std::ofstream(pw) << "not-needed-by-trust-auth\n";
  store::install_tenant_password_source();
  store::TenantPoolOptions o;
  o.max_tenants = 1;
  o.idle_timeout = std::chrono::milliseconds(200);
  store::TenantPools pools(o);
  const store::TenantDatabase ta{"a", a.url(), pw};
  const store::TenantDatabase tb{"b", b.url(), std::nullopt};
  CHECK(pools.with(ta, [](pg::Connection& c) { return c.exec("t", "SELECT 1").i64(0, 0); }) == 1);
  CHECK(pools.open_pools() == 1);
  CHECK(pools.with(tb, [](pg::Connection& c) { return c.exec("t", "SELECT 2").i64(0, 0); }) == 2);
  CHECK(pools.open_pools() == 1);  // bounded: a's pool was closed to make room
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  pools.close_idle();
  CHECK(pools.open_pools() == 0);
  // The file is read at every new connection: gone, the next connection fails and says why.
  std::remove(pw.c_str());
  CHECK_THROWS_WITH(pools.with(ta, [](pg::Connection& c) { return c.exec("t", "SELECT 1").i64(0, 0); }),
                    Catch::Contains("cannot read its password file"));
  store::register_tenant_passwords({});
}

TEST_CASE("tenant: rows sealed in the tenant database open after keys rotate re-wrapped its copies",
          "[pg][tenant]") {
  TwoDatabases d;
  const auto old_kek = store::KekRing::generate_line();
  const auto new_kek = store::KekRing::generate_line();
  auto sealer =
      std::make_shared<store::Sealer>(store::KekRing::parse(old_kek + "\n", "test"), d.control.url());
  store::install_sealer(sealer);
  sealer->verify(d.cc);  // the first data key, in the control database
  store::add_tenant_account(d.cc, d.tc, d.t, std::nullopt);
  CHECK(count(d.tc, "SELECT count(*) FROM wa_data_keys") == 1);  // copied, still wrapped
  const auto e = store::begin_lease(d.cc, "acme", "pod-a").epoch;
  store::copy_lease_epoch(d.tc, "acme", e);
  store::PgDeviceStore s(d.cc, std::make_shared<store::WriteFence>("acme", e), &d.tc);
  const auto dev = client::DeviceKeys::generate();
  s.save_device(dev);
  CHECK(count(d.tc, "SELECT count(*) FROM wa_devices WHERE data_key_id = 1 AND length(noise_priv) = 61") ==
        1);

  // keys rotate: the control database's data keys re-wrapped, then the tenant's copies.
  const auto both = store::KekRing::parse(new_kek + "\n" + old_kek + "\n", "test");
  CHECK(store::rewrap_data_keys(d.cc, both) == 1);
  CHECK(store::sync_data_keys(d.cc, d.tc) == 1);
  CHECK(store::sync_data_keys(d.cc, d.tc) == 0);  // nothing left to copy
  // A pod with only the new KEK opens the tenant's row; the old KEK alone no longer unwraps there.
  auto fresh = std::make_shared<store::Sealer>(store::KekRing::parse(new_kek + "\n", "test"));
  store::install_sealer(fresh);
  CHECK(fresh->verify(d.tc) == 1);
  store::PgDeviceStore s2(d.cc, std::make_shared<store::WriteFence>("acme", e), &d.tc);
  REQUIRE(s2.load_device());
  CHECK(s2.load_device()->noise_key.priv == dev.noise_key.priv);
  store::Sealer old(store::KekRing::parse(old_kek + "\n", "test"));
  CHECK_THROWS_AS(old.verify(d.tc), store::SealingError);
  store::install_sealer(nullptr);
}
