#include <catch2/catch.hpp>

#include "app/status_json.h"

using wa::app::AccountStatus;
using wa::app::evaluate_ready;
using wa::app::PodStatus;
using wa::app::render_status_json;

namespace {
PodStatus healthy() {
  PodStatus s;
  s.pod = "waconnector-1";
  s.version = "0.1.0";
  s.db_reachable = true;
  s.elector_running = true;
  return s;
}
}  // namespace

TEST_CASE("status JSON: pod, accounts, masked jid, null for missing values", "[status]") {
  PodStatus s = healthy();
  s.accounts.push_back({"42", "active", 3, 1700000000123, "15551234567:2@s.whatsapp.net", "logged_in"});
  s.accounts.push_back({"q\"x", "standby", 0, 0, "", std::nullopt});
  const auto j = render_status_json(s);
  CHECK(j ==
        R"({"pod":"waconnector-1","version":"0.1.0","db_reachable":true,"elector_running":true,)"
        R"("share":{"live_pods":[],"accounts":0,"fair_share":0,"leading":0,"targeted":0,"handovers":0},"accounts":[)"
        R"({"business_id":"42","role":"active","epoch":3,"since_unix_ms":1700000000123,"jid":"1555*****67:2@s.whatsapp.net","connection":"logged_in"},)"
        R"({"business_id":"q\"x","role":"standby","epoch":0,"since_unix_ms":0,"jid":null,"connection":null}]})");
}

TEST_CASE("status JSON: the pod's share of the fleet (pod names and counts only)", "[status]") {
  PodStatus s = healthy();
  s.share.live_pods = {"waconnector-0", "waconnector-1"};
  s.share.accounts = 60;
  s.share.fair_share = 31;
  s.share.leading = 29;
  s.share.targeted = 30;
  s.share.handovers = 4;
  CHECK(render_status_json(s).find(
            R"("share":{"live_pods":["waconnector-0","waconnector-1"],"accounts":60,"fair_share":31,"leading":29,)"
            R"("targeted":30,"handovers":4})") != std::string::npos);
}

TEST_CASE("ready: database and elector are required", "[status]") {
  PodStatus s = healthy();
  CHECK(evaluate_ready(s).first);
  s.db_reachable = false;
  auto [ok, body] = evaluate_ready(s);
  CHECK_FALSE(ok);
  CHECK(body == R"({"ready":false,"reasons":["database unreachable"]})");
  s = healthy();
  s.elector_running = false;
  CHECK_FALSE(evaluate_ready(s).first);
}

TEST_CASE("ready: about the pod only - a leader's WhatsApp connection never makes it NotReady", "[status]") {
  PodStatus s = healthy();
  s.accounts.push_back({"1", "standby", 0, 0, "", std::nullopt});
  CHECK(evaluate_ready(s).first);  // a pure standby is Ready (rollouts must not stall)

  s.accounts.push_back({"2", "leader", 5, 0, "", std::nullopt});
  CHECK(evaluate_ready(s).first);
  // A WhatsApp outage: leaders stay Ready, so rollouts and node drains go on; the outage shows
  // in waconnector_connected and WaconnectorLeaderNotLoggedIn instead.
  for (const char* any : {"connecting", "stopped", "failed", "logged_in", "pairing"}) {
    s.accounts.back().connection = any;
    auto [ok, body] = evaluate_ready(s);
    CHECK(ok);
    CHECK(body == R"({"ready":true,"reasons":[]})");
  }
  // ...while the pod's own faults still do.
  s.db_reachable = false;
  auto [ok, body] = evaluate_ready(s);
  CHECK_FALSE(ok);
  CHECK(body == R"({"ready":false,"reasons":["database unreachable"]})");
}
