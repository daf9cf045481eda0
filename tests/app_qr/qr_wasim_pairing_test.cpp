// Pairing end to end, the way an operator does it: wasim (a WhatsApp stand-in with virtual
// phones), two `waconnector run` pods competing for one unpaired account, and the CLI.
//  - QR: `accounts pair` draws the leader's QR; both pods serve it as a PNG; the virtual phone
//    "scans" the PNG (zbarimg) and links; the CLI sees the account paired and exits 0.
//  - Pair code: `accounts pair --phone` gets the code from the leader; the phone types it; paired.
// Needs WACONN_TEST_DATABASE_URL, the wasim binary next to waconnector, and zbarimg.
#include <sys/stat.h>

#include <cstdlib>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "app/qr_render.h"
#include "store/accounts.h"
#include "store/tokens.h"
#include "tests/app/http_client.h"
#include "tests/app_qr/qr_support.h"
#include "tests/store/test_db.h"

namespace {

// wasim on ephemeral ports with a fresh state dir; its log names the ports and root key.
struct Wasim {
  std::string state = fmt::format("/tmp/waconn-qr-wasim-{}-{}", ::getpid(), counter()++);
  std::unique_ptr<wa::test::Child> proc;
  std::string ws_url;
  int admin_port = 0;
  std::string root_key;

  static int& counter() {
    static int n = 0;
    return n;
  }
  Wasim() {
    // wasim keeps its pending queue log in the state dir: it must exist (private, as in the demo).
    ::mkdir(state.c_str(), 0700);
    proc = std::make_unique<wa::test::Child>(std::vector<std::string>{
        wa::test::bin_dir() + "/wasim", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--state", state});
    const std::regex ws("\"ws_url\":\"([^\"]+)\"");
    const std::regex admin("\"admin_url\":\"http://127\\.0\\.0\\.1:([0-9]+)/admin\"");
    const std::regex root("\"root_public_key\":\"([0-9a-f]{64})\"");
    const bool up = wa::test::eventually(
        [&] {
          const auto log = proc->err();
          std::smatch a, b, c;
          if (!std::regex_search(log, a, ws) || !std::regex_search(log, b, admin) || !std::regex_search(log, c, root))
            return false;
          ws_url = a[1];
          admin_port = std::stoi(b[1]);
          root_key = c[1];
          return true;
        },
        10000);
    INFO(proc->err());
    REQUIRE(up);
  }
  ~Wasim() {
    proc.reset();
    std::system(fmt::format("rm -rf '{}'", state).c_str());
  }
  wa::test::HttpResult post(const std::string& path, const std::string& json) const {
    return wa::test::http_request(admin_port, "POST", "/admin" + path, json, "Content-Type: application/json\r\n");
  }
};

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

std::vector<std::string> run_cmd(const wa::test::TestDatabase& db, const Wasim& sim, const std::string& pod,
                                 const std::string& business_id) {
  return {wa::test::bin_dir() + "/waconnector", "run", "--database-url", db.url(), "--pod", pod, "--http",
          "127.0.0.1:0", "--business-id", business_id, "--wa-url", sim.ws_url, "--wa-root-key", sim.root_key};
}

std::vector<std::string> pair_cmd(const wa::test::TestDatabase& db, const std::string& business_id,
                                  std::vector<std::string> extra) {
  std::vector<std::string> a{wa::test::bin_dir() + "/waconnector", "accounts", "pair", "--database-url", db.url(),
                             "--business-id", business_id};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

// The first terminal QR the CLI printed (the glyph lines after the header).
std::string first_terminal_qr(const std::string& out) {
  const auto head = out.find("Scan with WhatsApp");
  if (head == std::string::npos) return {};
  std::size_t pos = out.find('\n', head) + 1;
  std::string block;
  for (;;) {
    const auto nl = out.find('\n', pos);
    if (nl == std::string::npos) break;
    const auto line = out.substr(pos, nl - pos);
    if (line.empty() || (line[0] != ' ' && static_cast<unsigned char>(line[0]) != 0xE2)) break;
    block += line + "\n";
    pos = nl + 1;
  }
  return block;
}

}  // namespace

TEST_CASE("accounts pair: a wasim phone scans the QR served by the pods and the account pairs", "[qr][pg][wasim]") {
  Wasim sim;
  wa::test::TestDatabase db;
  auto c = db.connect();
  wa::store::add_account(c, "biz-scan", std::nullopt);
  // The QR endpoint is behind the API's bearer token: the account's own token.
  const auto auth = "Authorization: Bearer " + wa::store::create_token(c, "biz-scan", "qr test").secret_token + "\r\n";
  REQUIRE(sim.post("/phones", R"({"phone":"+15550008001"})").status / 100 == 2);

  wa::test::Child pod_a(run_cmd(db, sim, "qr-a", "biz-scan"));
  wa::test::Child pod_b(run_cmd(db, sim, "qr-b", "biz-scan"));
  const int port_a = http_port_of(pod_a);
  const int port_b = http_port_of(pod_b);
  REQUIRE(port_a > 0);
  REQUIRE(port_b > 0);

  wa::test::Child cli(pair_cmd(db, "biz-scan", {"--timeout", "45s"}));
  REQUIRE(wa::test::eventually([&] { return cli.out().find("QR 1 for business biz-scan") != std::string::npos; },
                               20000));
  // Both pods (one leads, one stands by) serve the same QR, as a PNG a reader decodes.
  std::string qr;
  for (int port : {port_a, port_b}) {
    const auto r = wa::test::http_request(port, "GET", "/v1/accounts/biz-scan/qr", {}, auth + "Accept: image/png\r\n");
    REQUIRE(r.status == 200);
    const auto decoded = wa::test::zbar_decode_png(r.body);
    CHECK(decoded.rfind("https://wa.me/settings/linked_devices#", 0) == 0);
    if (qr.empty()) qr = decoded;
    CHECK(decoded == qr);
  }
  // ...and it is the one the CLI drew (unless it rotated in between, which takes 60 s).
  const auto drawn = first_terminal_qr(cli.out());
  REQUIRE_FALSE(drawn.empty());
  CHECK(wa::test::matrix_from_terminal(drawn, wa::app::kQrQuietZone).dark == wa::app::encode_qr(qr).dark);

  const auto linked = sim.post("/phones/+15550008001/link", fmt::format(R"({{"qr":"{}"}})", qr));
  INFO(linked.body);
  REQUIRE(linked.status == 200);

  INFO(cli.out() << cli.err());
  REQUIRE(cli.wait(30000) == 0);
  CHECK(std::regex_search(cli.out(), std::regex("paired: business biz-scan is 1555\\*+01:[0-9]+@s\\.whatsapp\\.net")));
  const auto a = wa::store::get_account(c, "biz-scan");
  REQUIRE(a);
  REQUIRE(a->jid);
  CHECK(std::regex_match(*a->jid, std::regex("15550008001:[0-9]+@s\\.whatsapp\\.net")));
  // The QR is gone once paired: the endpoint says so on every pod.
  CHECK(wa::test::eventually(
      [&] { return wa::test::http_request(port_b, "GET", "/v1/accounts/biz-scan/qr", {}, auth).status == 404; }, 10000));
}

TEST_CASE("accounts pair --phone: the leader's pair code, typed on a wasim phone, pairs the account",
          "[qr][pg][wasim]") {
  Wasim sim;
  wa::test::TestDatabase db;
  auto c = db.connect();
  wa::store::add_account(c, "biz-code", std::nullopt);
  REQUIRE(sim.post("/phones", R"({"phone":"+15550008002"})").status / 100 == 2);
  wa::test::Child pod(run_cmd(db, sim, "code-a", "biz-code"));
  REQUIRE(http_port_of(pod) > 0);

  wa::test::Child cli(pair_cmd(db, "biz-code", {"--phone", "+1 555 000 8002", "--timeout", "45s"}));
  std::smatch m;
  std::string code;
  const bool got = wa::test::eventually(
      [&] {
        const auto out = cli.out();
        if (!std::regex_search(out, m, std::regex("Pair code: ([1-9A-HJ-NP-TV-Z]{4})-([1-9A-HJ-NP-TV-Z]{4})")))
          return false;
        code = std::string(m[1]) + std::string(m[2]);
        return true;
      },
      30000);
  INFO(cli.out() << cli.err() << pod.err().substr(pod.err().size() > 4000 ? pod.err().size() - 4000 : 0));
  REQUIRE(got);
  const auto linked = sim.post("/phones/+15550008002/link-code", fmt::format(R"({{"code":"{}"}})", code));
  INFO(linked.body);
  REQUIRE(linked.status == 200);
  REQUIRE(cli.wait(30000) == 0);
  const auto a = wa::store::get_account(c, "biz-code");
  REQUIRE(a);
  REQUIRE(a->jid);
  CHECK(std::regex_match(*a->jid, std::regex("15550008002:[0-9]+@s\\.whatsapp\\.net")));
}
