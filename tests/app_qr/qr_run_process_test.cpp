// Any pod serves the QR: two real `waconnector run` processes (one leads, one stands by) both
// answer GET /v1/accounts/{id}/qr with what the database holds, as JSON and as a PNG that an
// independent decoder reads back.
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include <catch2/catch.hpp>

#include "store/accounts.h"
#include "tests/app/http_client.h"
#include "tests/app_qr/qr_support.h"
#include "tests/store/test_db.h"

namespace {

const std::string kQr =
    "https://wa.me/settings/linked_devices#2@runProcessRef0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJK,"
    "bm9pc2Uga2V5IHB1YmxpYyAzMiBieXRlcyBsb25nIDox,aWRlbnRpdHkga2V5IHB1YmxpYyAzMiBieXRlcyBvayE=,"
    "YWR2IHNlY3JldCAzMiBieXRlcyBvZiByYW5kb21uZXNz,9";

int http_port_of(const wa::test::Child& pod) {
  int port = 0;
  const std::regex re("\"event\":\"run_started\".*\"http_port\":([0-9]+)");
  wa::test::eventually(
      [&] {
        std::smatch m;
        const auto err = pod.err();
        if (std::regex_search(err, m, re)) port = std::stoi(m[1]);
        return port > 0;
      },
      15000);
  return port;
}

}  // namespace

TEST_CASE("every waconnector run pod serves the stored QR", "[qr][pg]") {
  wa::test::TestDatabase db;
  auto c = db.connect();
  // The pods compete for an account of their own; the pairing account is led by nobody here,
  // so only the test writes its QR.
  wa::store::add_account(c, "biz-lead", std::nullopt);
  wa::store::add_account(c, "biz-scan", std::nullopt);
  c.exec("test: store a QR",
         "UPDATE wa_accounts SET qr_code = $2, qr_expires_at = now() + interval '30 seconds',"
         " status = 'qr_scanning' WHERE business_id = $1",
         {"biz-scan", kQr});

  // The QR is behind the API's bearer token: the pods get an admin token from a file.
  const std::string admin = "qr-test-admin-token-0123456789abcdef";
  const auto admin_file = std::filesystem::temp_directory_path() / ("waconn-qr-admin-" + db.name());
  std::ofstream(admin_file) << admin << "\n";
  const std::string auth = "Authorization: Bearer " + admin + "\r\n";
  auto cmd = [&](const std::string& pod) {
    return std::vector<std::string>{wa::test::bin_dir() + "/waconnector", "run", "--database-url", db.url(), "--pod",
                                    pod, "--http", "127.0.0.1:0", "--business-id", "biz-lead",
                                    "--wa-url", "none", "--admin-token-file", admin_file.string()};
  };
  wa::test::Child a(cmd("qr-pod-a"));
  const int port_a = http_port_of(a);
  REQUIRE(port_a > 0);
  wa::test::Child b(cmd("qr-pod-b"));
  const int port_b = http_port_of(b);
  INFO(b.err());
  REQUIRE(port_b > 0);

  for (int port : {port_a, port_b}) {
    CHECK(wa::test::http_request(port, "GET", "/v1/accounts/biz-scan/qr").status == 401);
    auto r = wa::test::http_request(port, "GET", "/v1/accounts/biz-scan/qr", {}, auth);
    REQUIRE(r.status == 200);
    CHECK(r.body.find("\"qr\":\"" + kQr + "\"") != std::string::npos);
    r = wa::test::http_request(port, "GET", "/v1/accounts/biz-scan/qr", {}, auth + "Accept: image/png\r\n");
    REQUIRE(r.status == 200);
    CHECK(r.headers["content-type"] == "image/png");
    CHECK(wa::test::zbar_decode_png(r.body) == kQr);
    CHECK(wa::test::http_request(port, "GET", "/v1/accounts/biz-lead/qr", {}, auth).status == 404);
    CHECK(wa::test::http_request(port, "GET", "/v1/accounts/bad*id/qr", {}, auth).status == 400);
  }
  std::filesystem::remove(admin_file);
}
