// WaClient paired by wasim's virtual phones (QR and pair code), the 515 restart and login,
// login again from stored keys, and the reactions to replaced / logout / stream errors / a
// frozen server.
#include <catch2/catch.hpp>

#include <signal.h>

#include <fstream>

#include "tests/core_client/wasim_fixture.h"

using namespace wa::clienttest;
using wa::client::WaClient;
using wa::core::ConnectionState;
using wa::core::DisconnectReason;
using wa::simtest::TempDir;
using wa::simtest::WasimProcess;

namespace {

void add_phone(const WasimProcess& w, const std::string& phone) {
  auto r = http_json(w.admin_port(), "POST", "/admin/phones", "{\"phone\":\"" + phone + "\"}");
  INFO(r.body);
  REQUIRE((r.status == 200 || r.status == 201));
}

// Pairs a fresh client through the QR it publishes and waits for the login after the 515.
struct Paired {
  MemoryStore store;
  EventLog log;
  std::unique_ptr<WaClient> client;
};

void pair_by_qr(const WasimProcess& w, const std::string& phone, Paired& p, wa::client::ClientOptions o) {
  add_phone(w, phone);
  p.client = std::make_unique<WaClient>("biz-" + phone.substr(1), o, p.store.make(), p.log.events());
  p.client->start();
  REQUIRE(p.store.wait([](const StoreData& d) { return d.qr.has_value(); }, 10s));
  const std::string qr = *p.store.snapshot().qr;
  auto r = http_json(w.admin_port(), "POST", "/admin/phones/" + phone + "/link", "{\"qr\":\"" + qr + "\"}");
  INFO(r.body);
  REQUIRE(r.status == 200);
  REQUIRE(p.log.wait_state(ConnectionState::logged_in, 10s));
  REQUIRE(p.store.wait([](const StoreData& d) { return d.connected >= 1; }, 5s));
}

// wasim's pid: a child of this process whose executable is wasim (the harness keeps it private).
pid_t wasim_pid() {
  std::ifstream in("/proc/self/task/" + std::to_string(::gettid()) + "/children");
  pid_t pid = 0, found = 0;
  while (in >> pid) {
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec);
    if (!ec && exe.filename() == "wasim") found = pid;
  }
  return found;
}

}  // namespace

TEST_CASE("QR pairing through wasim: pair-success, 515, login, pre-keys - then login from stored keys", "[client][wasim][pairing]") {
  TempDir dir;
  WasimProcess w(dir.path());
  Paired p;
  pair_by_qr(w, "+15550001", p, options_for(w));

  auto d = p.store.snapshot();
  REQUIRE(d.device);
  CHECK(d.device->paired());
  CHECK(d.device->jid.rfind("15550001:", 0) == 0);
  CHECK(d.device->jid.find("@s.whatsapp.net") != std::string::npos);
  CHECK(d.paired_jid == d.device->jid);
  CHECK(p.client->jid() == d.device->jid);
  CHECK_FALSE(d.device->account.empty());
  CHECK_FALSE(d.qr.has_value());
  CHECK(d.connected == 1);
  CHECK(d.resumed == 0);  // the first login after pairing is not a resume
  // First login against a server holding no pre-keys: whatsmeow's initial 812 are uploaded.
  REQUIRE(p.store.wait([](const StoreData& s) {
    return s.pre_keys.size() == 812 && std::all_of(s.pre_keys.begin(), s.pre_keys.end(), [](auto& k) { return k.second.uploaded; });
  }, 10s));
  CHECK(wasim_connections(w) == 2);  // registration, then login after the 515

  // Another "pod": same store, new client.
  p.client.reset();
  EventLog log2;
  WaClient again("biz-15550001", options_for(w), p.store.make(), log2.events());
  again.start();
  REQUIRE(log2.wait_state(ConnectionState::logged_in, 10s));
  REQUIRE(p.store.wait([](const StoreData& x) { return x.connected == 2; }, 5s));
  auto d2 = p.store.snapshot();
  CHECK(d2.connected == 2);
  CHECK(d2.resumed == 1);
  CHECK(d2.device->noise_key.pub == d.device->noise_key.pub);
  CHECK(log2.count_state(ConnectionState::pairing) == 0);
  CHECK(wasim_connections(w) == 3);
  CHECK(wasim_open_connections(w) == 1);
}

TEST_CASE("pair-code pairing through wasim", "[client][wasim][pairing]") {
  TempDir dir;
  WasimProcess w(dir.path());
  add_phone(w, "+15550002");
  MemoryStore store;
  EventLog log;
  WaClient c("biz-code", options_for(w), store.make(), log.events());
  c.start();
  REQUIRE(log.wait_state(ConnectionState::pairing, 10s));
  const std::string code = c.request_pair_code("+1 555 0002");
  REQUIRE(code.size() == 8);
  auto r = http_json(w.admin_port(), "POST", "/admin/phones/+15550002/link-code", "{\"code\":\"" + code + "\"}");
  INFO(r.body);
  REQUIRE(r.status == 200);
  REQUIRE(log.wait_state(ConnectionState::logged_in, 15s));
  auto d = store.snapshot();
  CHECK(d.device->jid.rfind("15550002:", 0) == 0);
  CHECK_THROWS_AS(c.request_pair_code("+15550002"), wa::client::PairCodeError);  // paired: nothing to pair
}

TEST_CASE("a second login with the same keys gets the first replaced: no reconnect", "[client][wasim][pairing]") {
  TempDir dir;
  WasimProcess w(dir.path());
  Paired p;
  pair_by_qr(w, "+15550003", p, options_for(w));
  EventLog log2;
  WaClient second("biz-15550003", options_for(w), p.store.make(), log2.events());
  second.start();
  REQUIRE(log2.wait_state(ConnectionState::logged_in, 10s));
  REQUIRE(p.log.wait_disconnect(DisconnectReason::replaced, 10s));
  CHECK(p.client->state() == ConnectionState::failed);
  const int n = wasim_connections(w);
  CHECK_FALSE(eventually([&] { return wasim_connections(w) > n; }, 1s));  // the replaced one stays down
  CHECK(second.state() == ConnectionState::logged_in);
  CHECK(wasim_open_connections(w) == 1);
}

TEST_CASE("wasim logs the device out: logged_out, no reconnect", "[client][wasim][pairing]") {
  TempDir dir;
  WasimProcess w(dir.path());
  Paired p;
  pair_by_qr(w, "+15550004", p, options_for(w));
  const std::string jid = p.client->jid();
  auto r = http_json(w.admin_port(), "POST", "/admin/devices/" + jid + "/logout", "{}");
  INFO(r.body);
  REQUIRE(r.status == 200);
  REQUIRE(p.log.wait_disconnect(DisconnectReason::logged_out, 10s));
  CHECK(p.client->state() == ConnectionState::failed);
  auto d = p.store.snapshot();
  REQUIRE_FALSE(d.disconnects.empty());
  CHECK(d.disconnects.back().first == DisconnectReason::logged_out);
  const int n = wasim_connections(w);
  CHECK_FALSE(eventually([&] { return wasim_connections(w) > n; }, 1s));
}

TEST_CASE("stream errors 515 and 503 bring the session back - 403 ends it", "[client][wasim][pairing]") {
  TempDir dir;
  WasimProcess w(dir.path());
  Paired p;
  pair_by_qr(w, "+15550005", p, options_for(w));
  const std::string jid = p.client->jid();
  auto stream_error = [&](int code) {
    auto r = http_json(w.admin_port(), "POST", "/admin/devices/" + jid + "/stream-error", "{\"code\":" + std::to_string(code) + "}");
    INFO(r.body);
    REQUIRE(r.status == 200);
  };
  stream_error(515);
  REQUIRE(p.store.wait([](const StoreData& d) { return d.connected == 2; }, 10s));
  CHECK(p.store.snapshot().resumed == 1);
  stream_error(503);
  REQUIRE(p.store.wait([](const StoreData& d) { return d.connected == 3; }, 10s));
  auto d = p.store.snapshot();
  REQUIRE_FALSE(d.disconnects.empty());
  CHECK(d.disconnects.back().second.find("503") != std::string::npos);
  CHECK(p.log.wait_state(ConnectionState::logged_in, 1s));
  stream_error(403);
  REQUIRE(p.log.wait_state(ConnectionState::failed, 10s));
  auto d3 = p.store.snapshot();
  CHECK(d3.disconnects.back().first == DisconnectReason::error);
  CHECK(d3.disconnects.back().second.find("403") != std::string::npos);
}

TEST_CASE("unanswered keepalives force a reconnect - the session comes back", "[client][wasim][pairing]") {
  TempDir dir;
  WasimProcess w(dir.path());
  auto o = options_for(w);
  o.keepalive_min = 100ms;
  o.keepalive_max = 150ms;
  o.keepalive_response_timeout = 200ms;
  o.keepalive_max_fail = 400ms;
  o.connect_timeout = 1s;
  o.handshake_timeout = 1s;
  Paired p;
  pair_by_qr(w, "+15550006", p, o);
  const pid_t pid = wasim_pid();
  REQUIRE(pid > 0);
  REQUIRE(::kill(pid, SIGSTOP) == 0);  // the server stops answering; the TCP connection stays up
  const bool timed_out = p.log.wait_disconnect(DisconnectReason::timeout, 10s);
  ::kill(pid, SIGCONT);
  REQUIRE(timed_out);
  REQUIRE(p.store.wait([](const StoreData& d) { return d.connected >= 2; }, 15s));
  CHECK(p.client->state() == ConnectionState::logged_in);
}
