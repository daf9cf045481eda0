// WaClient against the real wasim binary: registration and QR rotation, login failures, stop()
// and fenced store writes. Pairing through wasim's virtual phones is in wasim_pairing_test.cpp.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <set>

#include "core/client/qr.h"
#include "core/crypto/base64.h"
#include "tests/core_client/wasim_fixture.h"

using namespace wa::clienttest;
using wa::client::WaClient;
using wa::core::ConnectionState;
using wa::core::DisconnectReason;
using wa::simtest::TempDir;
using wa::simtest::WasimProcess;

TEST_CASE("a new device registers, publishes six rotating QR codes and ends with qr_expired", "[client][wasim]") {
  TempDir dir;
  WasimProcess w(dir.path());
  MemoryStore store;
  EventLog log;
  auto o = options_for(w);
  o.qr_first_timeout = 600ms;
  o.qr_next_timeout = 200ms;
  WaClient c("biz-qr", o, store.make(), log.events());
  c.start();
  REQUIRE(log.wait_state(ConnectionState::pairing, 10s));
  REQUIRE(store.wait([](const StoreData& d) { return d.qr.has_value(); }, 5s));
  auto first = store.snapshot();
  REQUIRE(first.device);
  const std::string prefix = "https://wa.me/settings/linked_devices#";
  REQUIRE(first.qr->rfind(prefix, 0) == 0);
  // fmt, not "," + std::string&&: GCC 12 reports a false -Wrestrict on the latter.
  CHECK(first.qr->find(fmt::format(",{},{},", wa::crypto::base64_encode(first.device->noise_key.pub),
                                   wa::crypto::base64_encode(first.device->identity_key.pub))) != std::string::npos);
  // The first code is announced for qr_first_timeout.
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(first.qr_expires - std::chrono::system_clock::now());
  CHECK(left.count() > 300);
  CHECK(left.count() <= 600);

  REQUIRE(log.wait_disconnect(DisconnectReason::qr_expired, 10s));
  auto end = store.snapshot();
  CHECK(end.qr_history.size() == 6);  // one per ref wasim sent
  CHECK(std::set<std::string>(end.qr_history.begin(), end.qr_history.end()).size() == 6);
  CHECK_FALSE(end.qr.has_value());  // cleared when the refs ran out
  CHECK(c.state() == ConnectionState::failed);
  REQUIRE(end.disconnects.size() == 1);
  CHECK(end.disconnects[0].first == DisconnectReason::qr_expired);
  // The device keys were created once and kept.
  CHECK(end.device->noise_key.pub == first.device->noise_key.pub);
  CHECK(eventually([&] { return wasim_open_connections(w) == 0; }, 5s));
  CHECK(wasim_connections(w) == 1);  // no reconnect after qr_expired
}

TEST_CASE("a login wasim does not know gets failure 401: logged_out, no reconnect", "[client][wasim]") {
  TempDir dir;
  WasimProcess w(dir.path());
  MemoryStore store;
  auto keys = wa::client::DeviceKeys::generate();
  keys.jid = "15550009999:3@s.whatsapp.net";
  store.make()->save_device(keys);
  EventLog log;
  WaClient c("biz-unknown", options_for(w), store.make(), log.events());
  c.start();
  REQUIRE(log.wait_disconnect(DisconnectReason::logged_out, 10s));
  CHECK(c.state() == ConnectionState::failed);
  auto d = store.snapshot();
  REQUIRE_FALSE(d.disconnects.empty());
  CHECK(d.disconnects.back().first == DisconnectReason::logged_out);
  CHECK(d.disconnects.back().second.find("401") != std::string::npos);
  CHECK(d.connected == 0);
  // Backoff would have retried within 50-400 ms; a second connection must never appear.
  CHECK_FALSE(eventually([&] { return wasim_connections(w) > 1; }, 1s));
  CHECK(log.count_state(ConnectionState::logged_in) == 0);
}

TEST_CASE("stop() closes the socket at once and the client writes nothing more", "[client][wasim]") {
  TempDir dir;
  WasimProcess w(dir.path());
  MemoryStore store;
  EventLog log;
  auto o = options_for(w);
  o.qr_first_timeout = 100ms;  // rotation keeps writing to the store unless stop() works
  o.qr_next_timeout = 100ms;
  WaClient c("biz-stop", o, store.make(), log.events());
  c.start();
  REQUIRE(store.wait([](const StoreData& d) { return d.qr.has_value(); }, 10s));
  c.stop(DisconnectReason::lock_lost);
  CHECK(c.state() == ConnectionState::stopped);
  const int writes = store.snapshot().writes;
  CHECK(eventually([&] { return wasim_open_connections(w) == 0; }, 2s));
  // Several rotation periods later: no more writes, no events, no new connection.
  CHECK_FALSE(store.wait([&](const StoreData& d) { return d.writes != writes; }, 500ms));
  CHECK(log.disconnects().empty());
  CHECK(wasim_connections(w) == 1);
  c.stop(DisconnectReason::lock_lost);  // idempotent
}

TEST_CASE("a fenced store write stops the client with lock_lost", "[client][wasim]") {
  TempDir dir;
  WasimProcess w(dir.path());
  MemoryStore store;
  store.make()->save_device(wa::client::DeviceKeys::generate());
  store.set_fenced(true);  // another pod leads now: the QR write will be refused
  EventLog log;
  WaClient c("biz-fenced", options_for(w), store.make(), log.events());
  c.start();
  REQUIRE(log.wait_disconnect(DisconnectReason::lock_lost, 10s));
  CHECK(c.state() == ConnectionState::failed);
  CHECK(store.refused() == 1);  // the first refused write is the last attempt
  CHECK(eventually([&] { return wasim_open_connections(w) == 0; }, 2s));
  CHECK_FALSE(eventually([&] { return wasim_connections(w) > 1 || store.refused() > 1; }, 500ms));
}
