// The API against real pods: PostgreSQL + wasim + `waconnector run` replicas (tests/e2e's
// Cluster). DELETE /v1/accounts/{id}/session on a standby reaches the leader through PostgreSQL;
// the leader sends the logout to wasim, which removes the device; the keys are deleted and the
// account shows a QR again.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "../app/http_client.h"
#include "cluster.h"
#include "core/binary/json.h"
#include "store/tokens.h"

namespace wa::e2e {
namespace {

std::string token(Cluster& c) {
  auto conn = c.db().connect("token");
  return "Authorization: Bearer " + store::create_token(conn, Cluster::kAccount, "api-e2e").secret_token + "\r\n";
}

int standby_port(Cluster& c) {
  const int leader = c.leading_pod();
  REQUIRE(leader >= 0);
  return c.pods()[leader == 0 ? 1 : 0]->http_port();
}

std::int64_t device_rows(Cluster& c) {
  auto conn = c.db().connect("devices");
  return conn.exec("count", "SELECT count(*) FROM wa_devices WHERE business_id = $1", {std::string(Cluster::kAccount)})
      .i64(0, 0);
}

}  // namespace

TEST_CASE("api e2e: DELETE session logs the device out through the leader and pairing starts again",
          "[pg][e2e][api]") {
  Cluster c({}, 2);
  c.pair("+15550003001");
  REQUIRE(device_rows(c) == 1);
  const auto auth = token(c);
  const int port = standby_port(c);
  const std::string path = std::string("/v1/accounts/") + Cluster::kAccount + "/session";

  const auto r = test::http_request(port, "DELETE", path, {}, auth);
  INFO(r.status << " " << r.body);
  REQUIRE(r.status == 200);
  const auto j = binary::parse_json(r.body);
  CHECK(j.find("state")->text == "done");

  // wasim removed the device at the companion's request; its keys are gone here too.
  CHECK(c.wasim().log().find("\"by\":\"companion\"") != std::string::npos);
  CHECK(device_rows(c) == 0);
  // A leader starts pairing again: the account shows a fresh QR.
  CHECK(hatest::wait_for(
      [&] {
        const auto a = c.account();
        return a.qr_code.has_value() && !a.jid.has_value();
      },
      30s));
  // Nothing left to log out.
  CHECK(test::http_request(port, "DELETE", path, {}, auth).status == 409);
}

}  // namespace wa::e2e

namespace wa::e2e {

TEST_CASE("api e2e: a reply posted on a standby reaches the phone with its quote", "[pg][e2e][api]") {
  Cluster c({}, 2);
  c.pair("+15550003101");
  const std::string bob = "+15550003102";
  REQUIRE(c.admin_post("/admin/phones", "{\"phone\":\"" + bob + "\"}") < 300);
  const auto auth = token(c);
  const int port = standby_port(c);
  const std::string path = std::string("/v1/accounts/") + Cluster::kAccount + "/messages";
  const std::string to = bob.substr(1) + "@s.whatsapp.net";
  const auto first = test::http_request(port, "POST", path, R"({"to":")" + to + R"(","text":"first"})",
                                        auth + "Content-Type: application/json\r\n");
  REQUIRE(first.status == 202);
  const auto first_id = binary::parse_json(first.body).find("id")->text;
  const auto second = test::http_request(
      port, "POST", path, R"({"to":")" + to + R"(","text":"second","reply_to":")" + first_id + "\"}",
      auth + "Content-Type: application/json\r\n");
  INFO(second.body);
  REQUIRE(second.status == 202);
  const auto second_id = binary::parse_json(second.body).find("id")->text;
  std::string quoted;
  REQUIRE(hatest::wait_for(
      [&] {
        auto r = test::http_request(c.wasim().admin_port(), "GET", "/admin/phones/" + bob + "/messages");
        const auto j = binary::parse_json(r.body);
        const auto* list = j.find("messages");
        if (list == nullptr) return false;
        for (const auto& m : list->items)
          if (m.find("id") && m.find("id")->text == second_id && m.find("reply_to")) quoted = m.find("reply_to")->text;
        return !quoted.empty();
      },
      30s));
  CHECK(quoted == first_id);
}

}  // namespace wa::e2e
