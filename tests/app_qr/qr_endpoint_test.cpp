// GET /v1/accounts/{business_id}/qr: content negotiation, status codes, and the real thing on a
// real HTTP server reading a real database (any pod serves what the leader stored).
#include <atomic>
#include <chrono>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "app/http_server.h"
#include "app/qr_endpoint.h"
#include "app/qr_render.h"
#include "store/accounts.h"
#include "store/pg.h"
#include "tests/app/http_client.h"
#include "tests/app_qr/qr_support.h"
#include "tests/store/test_db.h"

using wa::app::PairingState;
using wa::app::QrFormat;

namespace {

const std::string kQr =
    "https://wa.me/settings/linked_devices#2@UjdR5QqvOtYbN0Xh1lFzwCq0TfYp3mUkVd8sKgJrHn,"
    "VGhpcyBpcyBhIG5vaXNlIHB1YmxpYyBrZXkgMzJieXQ=,SWRlbnRpdHkga2V5IHB1YmxpYyAzMiBieXRlcyBvaw==,"
    "QURWIHNlY3JldCAzMiBieXRlcyBvZiByYW5kb21uZXM=,9";

wa::app::HttpRequest get(std::string path, std::string accept = {}, std::string query = {}) {
  wa::app::HttpRequest r;
  r.method = "GET";
  r.path = std::move(path);
  r.accept = std::move(accept);
  r.query = std::move(query);
  return r;
}

wa::app::PairingStateReader fake(std::optional<PairingState> s) {
  return [s](const std::string&) { return s; };
}

PairingState pairing(std::optional<std::string> qr) {
  PairingState s;
  s.business_id = "biz-1";
  s.status = qr ? "qr_scanning" : "disconnected";
  s.qr = std::move(qr);
  s.expires_at_ms = 1'800'000'020'000;
  s.db_now_ms = 1'800'000'000'000;
  return s;
}

}  // namespace

TEST_CASE("choose_qr_format follows Accept q-values and the format query", "[qr]") {
  using wa::app::choose_qr_format;
  CHECK(choose_qr_format("", "") == QrFormat::json);
  CHECK(choose_qr_format("application/json", "") == QrFormat::json);
  CHECK(choose_qr_format("image/png", "") == QrFormat::png);
  CHECK(choose_qr_format("IMAGE/PNG", "") == QrFormat::png);
  CHECK(choose_qr_format("image/svg+xml", "") == QrFormat::svg);
  CHECK(choose_qr_format("image/*", "") == QrFormat::png);
  CHECK(choose_qr_format("*/*", "") == QrFormat::json);
  CHECK(choose_qr_format("image/png;q=0.4, image/svg+xml;q=0.9", "") == QrFormat::svg);
  CHECK(choose_qr_format("image/png, */*;q=0.1", "") == QrFormat::png);
  CHECK(choose_qr_format("image/*;q=0.5, image/svg+xml;q=0", "") == QrFormat::png);
  // A browser's default Accept: everything at 0.8 -> JSON wins the tie.
  CHECK(choose_qr_format("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8", "") ==
        QrFormat::json);
  CHECK_FALSE(choose_qr_format("text/html", "").has_value());
  CHECK_FALSE(choose_qr_format("image/png;q=0", "").has_value());
  CHECK_FALSE(choose_qr_format("image/png;q=abc", "").has_value());
  CHECK(choose_qr_format("image/png", "format=svg") == QrFormat::svg);
  CHECK(choose_qr_format("", "a=1&format=png") == QrFormat::png);
  CHECK_FALSE(choose_qr_format("", "format=gif").has_value());
  // Absurd headers stay bounded and do not crash.
  std::string huge;
  for (int i = 0; i < 5000; ++i) huge += "text/plain;q=0.1,";
  CHECK_FALSE(choose_qr_format(huge + "image/png", "").has_value());  // past the 32 ranges looked at
}

TEST_CASE("handle_qr_request answers every case with the right status", "[qr]") {
  using wa::app::handle_qr_request;
  const auto live = fake(pairing(kQr));

  auto r = handle_qr_request(get("/v1/accounts/biz-1/qr"), live);
  CHECK(r.status == 200);
  CHECK(r.content_type == "application/json");
  CHECK(r.body.find("\"qr\":\"" + kQr + "\"") != std::string::npos);
  CHECK(r.body.find("\"expires_at\":\"2027-01-15T08:00:20.000Z\"") != std::string::npos);
  CHECK(r.body.find("\"expires_at_ms\":1800000020000") != std::string::npos);
  CHECK(r.body.find("\"expires_in_ms\":20000") != std::string::npos);

  r = handle_qr_request(get("/v1/accounts/biz-1/qr", "image/png"), live);
  CHECK(r.status == 200);
  CHECK(r.content_type == "image/png");
  CHECK(wa::test::zbar_decode_png(r.body) == kQr);

  r = handle_qr_request(get("/v1/accounts/biz-1/qr", "image/svg+xml"), live);
  CHECK(r.status == 200);
  CHECK(r.content_type == "image/svg+xml");
  CHECK(wa::test::matrix_from_svg(r.body).dark == wa::app::encode_qr(kQr).dark);

  CHECK(handle_qr_request(get("/v1/accounts/bad%20id/qr"), live).status == 400);
  CHECK(handle_qr_request(get("/v1/accounts/" + std::string(65, 'a') + "/qr"), live).status == 400);
  CHECK(handle_qr_request(get("/v1/accounts//qr"), live).status == 400);
  CHECK(handle_qr_request(get("/v1/accounts/biz-1/status"), live).status == 404);
  CHECK(handle_qr_request(get("/v1/accounts/biz-1/qr", "text/html"), live).status == 406);

  r = handle_qr_request(get("/v1/accounts/biz-1/qr"), fake(std::nullopt));
  CHECK(r.status == 404);
  CHECK(r.body.find("not registered") != std::string::npos);
  r = handle_qr_request(get("/v1/accounts/biz-1/qr"), fake(pairing(std::nullopt)));
  CHECK(r.status == 404);
  CHECK(r.body.find("not pairing") != std::string::npos);
  CHECK(r.body.find("\"status\":\"disconnected\"") != std::string::npos);

  // A store failure is 503 and says nothing of the database's details.
  r = handle_qr_request(get("/v1/accounts/biz-1/qr"), [](const std::string&) -> std::optional<PairingState> {
    throw wa::pg::Error("read pairing state: connection refused", "08006");
  });
  CHECK(r.status == 503);
  CHECK(r.body == R"({"error":{"code":"unavailable","message":"database unavailable"}})");

  // A stored string that cannot be a QR (too long) is a 500 for images, never a crash.
  r = handle_qr_request(get("/v1/accounts/biz-1/qr", "image/png"), fake(pairing(std::string(5000, 'x'))));
  CHECK(r.status == 500);
}

TEST_CASE("QR endpoint on a real server reads the QR the leader stored in PostgreSQL", "[qr][pg]") {
  wa::test::TestDatabase db;
  auto conn = db.connect();
  wa::store::add_account(conn, "biz-qr", std::nullopt);
  wa::store::add_account(conn, "biz-idle", std::nullopt);
  // What the leader's DeviceStore::set_qr writes (qr_code + qr_expires_at, status qr_scanning).
  conn.exec("test: store a QR",
            "UPDATE wa_accounts SET qr_code = $2, qr_expires_at = now() + interval '20 seconds',"
            " status = 'qr_scanning' WHERE business_id = $1",
            {"biz-qr", kQr});

  wa::app::HttpServer server("127.0.0.1", 0, wa::app::HttpHandlers{});
  wa::app::register_qr_routes(server, db.url());
  const int port = server.port();

  auto r = wa::test::http_request(port, "GET", "/v1/accounts/biz-qr/qr");
  REQUIRE(r.status == 200);
  CHECK(r.headers["content-type"] == "application/json");
  CHECK(r.headers["cache-control"] == "no-store");
  CHECK(r.body.find("\"qr\":\"" + kQr + "\"") != std::string::npos);
  std::smatch m;
  REQUIRE(std::regex_search(r.body, m, std::regex("\"expires_in_ms\":(-?\\d+)")));
  CHECK(std::stoll(m[1]) > 15000);
  CHECK(std::stoll(m[1]) <= 20000);

  r = wa::test::http_request(port, "GET", "/v1/accounts/biz-qr/qr", {}, "Accept: image/png\r\n");
  REQUIRE(r.status == 200);
  CHECK(r.headers["content-type"] == "image/png");
  CHECK(wa::test::zbar_decode_png(r.body) == kQr);

  r = wa::test::http_request(port, "GET", "/v1/accounts/biz-qr/qr?format=svg");
  REQUIRE(r.status == 200);
  CHECK(r.headers["content-type"] == "image/svg+xml");

  CHECK(wa::test::http_request(port, "GET", "/v1/accounts/biz-idle/qr").status == 404);
  CHECK(wa::test::http_request(port, "GET", "/v1/accounts/nobody/qr").status == 404);
  CHECK(wa::test::http_request(port, "GET", "/v1/accounts/no%24pe/qr").status == 400);
  CHECK(wa::test::http_request(port, "POST", "/v1/accounts/biz-qr/qr").status == 405);

  // An expired QR is not served (the leader died before clearing it).
  conn.exec("test: expire the QR",
            "UPDATE wa_accounts SET qr_expires_at = now() - interval '1 second' WHERE business_id = $1", {"biz-qr"});
  r = wa::test::http_request(port, "GET", "/v1/accounts/biz-qr/qr");
  CHECK(r.status == 404);
  CHECK(r.body.find("not pairing") != std::string::npos);

  // Many requests at once share the pool and all succeed.
  conn.exec("test: fresh QR", "UPDATE wa_accounts SET qr_expires_at = now() + interval '20 seconds' WHERE business_id = $1",
            {"biz-qr"});
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i)
        if (wa::test::http_request(port, "GET", "/v1/accounts/biz-qr/qr").status == 200) ++ok;
    });
  for (auto& t : threads) t.join();
  CHECK(ok.load() == 60);
}

TEST_CASE("QR endpoint answers 503 quickly when the database is unreachable", "[qr]") {
  wa::app::HttpServer server("127.0.0.1", 0, wa::app::HttpHandlers{});
  // Port 1 on loopback: connection refused at once.
  wa::app::register_qr_routes(server, std::string("postgresql://nobody@127.0.0.1:1/none"));
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = wa::test::http_request(server.port(), "GET", "/v1/accounts/biz-qr/qr");
  CHECK(r.status == 503);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
}
