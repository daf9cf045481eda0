// KEK rotation under traffic, then failover to a pod that only has the new KEK: it logs in with
// the stored (sealed) device and continues the stored (sealed) Signal session, no re-pairing, no
// new session; the webhook secret sealed before the rotation still opens (the fresh pod rotates
// it through the REST API, and a process with only the new KEK reads it). PostgreSQL + wasim +
// `waconnector run` replicas with an explicit --kek-file.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "../app/http_client.h"
#include "cluster.h"
#include "core/binary/json.h"
#include "store/sealing.h"
#include "store/tokens.h"
#include "store/webhooks.h"

namespace wa::e2e {
namespace {

struct PipeClose {
  void operator()(FILE* f) const { pclose(f); }
};

// Runs a command; returns its output, REQUIREs exit 0.
std::string run_ok(const std::string& cmd) {
  std::unique_ptr<FILE, PipeClose> p(popen((cmd + " 2>&1").c_str(), "r"));
  REQUIRE(p);
  std::string out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p.get())) out.append(buf, n);
  const int rc = pclose(p.release());
  INFO(cmd << "\n" << out);
  REQUIRE(rc == 0);
  return out;
}

void write_file(const std::string& path, const std::string& text) {
  // Replace atomically, as Kubernetes swaps a Secret volume's files.
  const auto tmp = path + ".new";
  std::ofstream(tmp) << text;
  REQUIRE(std::rename(tmp.c_str(), path.c_str()) == 0);
}

std::string user_jid(const std::string& device_jid) {
  const auto at = device_jid.find('@');
  const auto colon = device_jid.find(':');
  return device_jid.substr(0, std::min(colon, at)) + device_jid.substr(at);
}

void phone_send(Cluster& c, const std::string& from, const std::string& to, const std::string& text) {
  std::string body = "{\"to\":";
  binary::append_json_string(body, to);
  body += ",\"text\":";
  binary::append_json_string(body, text);
  body += "}";
  std::string reply;
  const int st = c.admin_post("/admin/phones/" + from + "/messages", body, &reply);
  INFO("POST /admin/phones/{phone}/messages -> " << st << " " << reply);
  REQUIRE(st == 200);
}

std::int64_t count(Cluster& c, const char* sql) {
  auto conn = c.db().connect("count");
  return conn.exec("count", sql).i64(0, 0);
}

}  // namespace

TEST_CASE(
    "sealing e2e: rotate the KEK under traffic, fail over to a pod with only the new KEK - same device, same "
    "session",
    "[pg][e2e][sealing]") {
  const auto kek_path = fmt::format("/tmp/waconn-rotate-kek-{}", getpid());
  const auto old_kek = store::KekRing::generate_line();
  const auto new_kek = store::KekRing::generate_line();
  write_file(kek_path, old_kek + "\n");
  Cluster c({"--kek-file", kek_path}, 2);
  const auto jid = c.pair("+15550009101");
  int first = -1;
  REQUIRE(hatest::wait_for(
      [&] {
        first = c.logged_in_pod();
        return first >= 0 && c.pods()[static_cast<std::size_t>(first)]->log().find(
                                 "wa_client_prekeys_uploaded") != std::string::npos;
      },
      20s));
  std::string reply;
  const std::string sender = "+15550009102";
  REQUIRE(c.admin_post("/admin/phones", fmt::format("{{\"phone\":\"{}\"}}", sender), &reply) < 300);
  const auto to = user_jid(jid);
  int sent = 0;
  for (; sent < 3; ++sent) phone_send(c, sender, to, fmt::format("before {}", sent));
  REQUIRE(hatest::wait_for([&] { return count(c, "SELECT count(*) FROM wa_inbox") >= 3; }, 20s));
  REQUIRE(count(c, "SELECT count(*) FROM wa_signal_sessions WHERE data_key_id IS NOT NULL") >= 1);
  const auto pre_keys_before = count(c, "SELECT count(*) FROM wa_device_pre_keys");
  // A webhook whose secret is sealed under the data key the rotation re-wraps.
  const std::string hook_secret = "whsec_cm90YXRlIG1lIHdpdGggdGhlIGRhdGEga2V5IQ==";
  std::string auth;
  {
    auto tc = c.db().connect("create API token");
    auth = "Authorization: Bearer " + store::create_token(tc, Cluster::kAccount, "rotate").secret_token + "\r\n";
  }
  const std::string hooks = std::string("/v1/accounts/") + Cluster::kAccount + "/webhooks";
  auto created = test::http_request(c.pods()[0]->http_port(), "POST", hooks,
                                    R"({"url":"http://127.0.0.1:9/hook","events":["*"],"secret":")" + hook_secret +
                                        R"("})",
                                    auth);
  INFO(created.body);
  REQUIRE(created.status == 201);
  const auto id_at = created.body.find("\"id\":\"") + 6;
  const auto hook_id = created.body.substr(id_at, created.body.find('"', id_at) - id_at);
  REQUIRE(count(c, "SELECT count(*) FROM wa_webhooks WHERE data_key_id IS NOT NULL AND secret IS NULL") == 1);

  // Rotation while the phone keeps sending: new KEK first, old after; rotate; then only the new.
  const auto bin = hatest::bin_dir() + "/waconnector";
  write_file(kek_path, new_kek + "\n" + old_kek + "\n");
  std::atomic<bool> stop{false};
  std::thread traffic([&] {
    for (int i = 0; !stop && i < 40; ++i) {
      phone_send(c, sender, to, fmt::format("during {}", i));
      ++sent;
      std::this_thread::sleep_for(50ms);
    }
  });
  const auto out = run_ok(
      fmt::format("'{}' keys rotate --database-url '{}' --kek-file '{}'", bin, c.db().url(), kek_path));
  stop = true;
  traffic.join();
  CHECK_THAT(out, Catch::Contains("re-wrapped 1 data key(s)"));
  write_file(kek_path, new_kek + "\n");
  CHECK_THAT(run_ok(fmt::format("'{}' keys status --database-url '{}' --kek-file '{}'", bin, c.db().url(),
                                kek_path)),
             Catch::Contains("[in --kek-file]"));

  // A pod started now has only the new KEK; every other pod dies.
  auto& fresh = c.add_pod();
  REQUIRE(hatest::wait_for(
      [&] { return fresh.log().find("\"event\":\"kek_verified\"") != std::string::npos; }, 20s));
  const auto fresh_index = static_cast<int>(c.pods().size()) - 1;
  for (int i = 0; i < fresh_index; ++i) c.pods()[static_cast<std::size_t>(i)]->signal(SIGKILL);
  REQUIRE(c.wait_logged_in(40s) == fresh_index);
  for (int i = 0; i < 3; ++i, ++sent) phone_send(c, sender, to, fmt::format("after {}", i));
  REQUIRE(hatest::wait_for([&] { return count(c, "SELECT count(*) FROM wa_inbox") >= sent; }, 30s));
  std::this_thread::sleep_for(500ms);
  CHECK(count(c, "SELECT count(*) FROM wa_inbox") == sent);
  // Same device (no second pairing), same Signal session (no pre-key used), no failures.
  CHECK(count(c, "SELECT count(*) FROM wa_pairings") == 1);
  CHECK(count(c, "SELECT count(*) FROM wa_device_pre_keys") == pre_keys_before);
  const auto log = fresh.log();
  CHECK(log.find("\"outcome\":\"failed\"") == std::string::npos);
  CHECK(log.find("wa_message_retry_receipt") == std::string::npos);
  CHECK(log.find("SealingError") == std::string::npos);
  CHECK(c.account().jid == jid);
  // The webhook secret sealed before the rotation: the fresh pod opens it to rotate it (the old
  // one keeps signing next to the new one), and a process with only the new KEK reads both.
  const std::string hook_next = "whsec_YWZ0ZXIgdGhlIEtFSyByb3RhdGlvbiwgYSBuZXcgb25l";
  const auto rotated = test::http_request(fresh.http_port(), "POST", hooks + "/" + hook_id + "/rotate-secret",
                                          R"({"secret":")" + hook_next + R"(","overlap_seconds":600})", auth);
  INFO(rotated.body);
  CHECK(rotated.status == 200);
  {
    auto sc = std::make_shared<store::Sealer>(store::KekRing::parse(new_kek + "\n", "test"));
    store::install_sealer(sc);
    auto conn = c.db().connect("read webhook");
    const auto w = store::get_webhook(conn, Cluster::kAccount, hook_id);
    store::install_sealer(nullptr);
    REQUIRE(w);
    CHECK(w->secret == hook_next);
    CHECK(w->previous_secret_expires_at_ms.has_value());
  }
  CHECK(count(c, "SELECT count(*) FROM wa_webhooks WHERE data_key_id IS NOT NULL AND secret IS NULL"
                 " AND previous_secret IS NULL AND previous_secret_sealed IS NOT NULL") == 1);
  std::remove(kek_path.c_str());
}

}  // namespace wa::e2e
