// `waconnector accounts pair` as a real process against real PostgreSQL, with the database rows a
// leader writes made by the test, and the leader's PairCodeResponder running in this process.
#include <chrono>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "app/qr_pair_cli.h"
#include "app/qr_pair_code_responder.h"
#include "app/qr_render.h"
#include "store/accounts.h"
#include "store/connection_pool.h"
#include "store/fenced_write.h"
#include "store/notify_hub.h"
#include "store/pairing.h"
#include "tests/app_qr/qr_support.h"
#include "tests/store/test_db.h"

namespace {

std::string qr_string(char v) {
  const std::string b64 = std::string(43, v) + "=";
  return "https://wa.me/settings/linked_devices#2@ref" + std::string(40, v) + "," + b64 + "," + b64 + "," + b64 + ",9";
}

void store_qr(wa::pg::Connection& c, const std::string& business_id, const std::string& qr) {
  c.exec("test: store a QR",
         "UPDATE wa_accounts SET qr_code = $2, qr_expires_at = now() + interval '20 seconds',"
         " status = 'qr_scanning' WHERE business_id = $1",
         {business_id, qr});
}

void mark_paired(wa::pg::Connection& c, const std::string& business_id, const std::string& jid) {
  c.exec("test: paired",
         "UPDATE wa_accounts SET jid = $2, status = 'authenticated', qr_code = NULL, qr_expires_at = NULL"
         " WHERE business_id = $1",
         {business_id, jid});
}

std::vector<std::string> pair_cmd(const wa::test::TestDatabase& db, const std::string& business_id,
                                  std::vector<std::string> extra) {
  std::vector<std::string> a{wa::test::bin_dir() + "/waconnector", "accounts", "pair", "--database-url", db.url(),
                             "--business-id", business_id};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

// The terminal QRs printed so far: the lines of glyphs after each "Scan with WhatsApp" header.
std::vector<std::string> printed_qrs(const std::string& out) {
  auto is_glyph_line = [](const std::string& l) {
    if (l.empty()) return false;
    for (std::size_t i = 0; i < l.size();) {
      if (l[i] == ' ') {
        ++i;
      } else if (l.compare(i, 2, "\xE2\x96") == 0 && i + 2 < l.size()) {
        i += 3;
      } else {
        return false;
      }
    }
    return true;
  };
  std::vector<std::string> qrs;
  std::istringstream in(out);
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line.rfind("Scan with WhatsApp", 0) == 0) {
      qrs.emplace_back();
      inside = true;
    } else if (inside && is_glyph_line(line)) {
      qrs.back() += line + "\n";
    } else {
      inside = false;
    }
  }
  return qrs;
}

// What the leader's responder gets from the elector: the write fence of each led account (epoch
// 0: no lease was begun in these tests).
wa::app::PairCodeResponder::LedAccounts led(const std::string& business_id, std::int64_t epoch = 0) {
  auto fence = std::make_shared<const wa::store::WriteFence>(business_id, epoch);
  return [fence] { return std::vector<std::shared_ptr<const wa::store::WriteFence>>{fence}; };
}

}  // namespace

TEST_CASE("pair_phone_digits_for_request and format_pair_code", "[qr]") {
  std::string err;
  CHECK(wa::app::pair_phone_digits_for_request("+1 (555) 000-1234", err) == "15550001234");
  CHECK(wa::app::pair_phone_digits_for_request("+49.30.1234567", err) == "49301234567");
  CHECK_FALSE(wa::app::pair_phone_digits_for_request("+123456", err));
  CHECK(err.find("7 to 15") != std::string::npos);
  CHECK_FALSE(wa::app::pair_phone_digits_for_request("015550001234", err));
  CHECK_FALSE(wa::app::pair_phone_digits_for_request("+1555abc0001", err));
  CHECK_FALSE(wa::app::pair_phone_digits_for_request(std::string(21, '1'), err));
  CHECK(wa::app::format_pair_code("ABCD1234") == "ABCD-1234");
  CHECK(wa::app::format_pair_code("short") == "short");
}

TEST_CASE("accounts pair draws each rotated QR and exits 0 once paired", "[qr][pg]") {
  wa::test::TestDatabase db;
  auto c = db.connect();
  wa::store::add_account(c, "biz-pair", std::nullopt);
  wa::test::Child cli(pair_cmd(db, "biz-pair", {"--timeout", "30s"}));
  REQUIRE(wa::test::eventually([&] { return cli.out().find("waiting for the leader") != std::string::npos; }, 10000));

  const auto q1 = qr_string('a');
  const auto q2 = qr_string('b');
  store_qr(c, "biz-pair", q1);
  REQUIRE(wa::test::eventually([&] { return cli.out().find("QR 1 for business biz-pair") != std::string::npos; }, 10000));
  store_qr(c, "biz-pair", q2);  // the leader rotates to the next ref
  REQUIRE(wa::test::eventually([&] { return cli.out().find("QR 2 for business biz-pair") != std::string::npos; }, 10000));
  mark_paired(c, "biz-pair", "15550001234:7@s.whatsapp.net");
  REQUIRE(cli.wait(10000) == 0);

  const auto out = cli.out();
  INFO(out);
  CHECK(out.find("paired: business biz-pair is 1555*****34:7@s.whatsapp.net (status authenticated)") !=
        std::string::npos);
  CHECK(out.find("15550001234") == std::string::npos);  // the jid is masked
  const auto qrs = printed_qrs(out);
  REQUIRE(qrs.size() == 2);
  CHECK(wa::test::matrix_from_terminal(qrs[0], wa::app::kQrQuietZone).dark == wa::app::encode_qr(q1).dark);
  CHECK(wa::test::matrix_from_terminal(qrs[1], wa::app::kQrQuietZone).dark == wa::app::encode_qr(q2).dark);
}

TEST_CASE("accounts pair gives up after --timeout and refuses bad input", "[qr][pg]") {
  wa::test::TestDatabase db;
  auto c = db.connect();
  wa::store::add_account(c, "biz-slow", std::nullopt);
  {
    wa::test::Child cli(pair_cmd(db, "biz-slow", {"--timeout", "1s"}));
    CHECK(cli.wait(10000) == 1);
    CHECK(cli.err().find("business biz-slow was not paired in time") != std::string::npos);
  }
  {
    wa::test::Child cli(pair_cmd(db, "nobody", {"--timeout", "1s"}));
    CHECK(cli.wait(10000) == 1);
    CHECK(cli.err().find("not registered") != std::string::npos);
  }
  {
    wa::test::Child cli(pair_cmd(db, "biz-slow", {"--phone", "+12345"}));
    CHECK(cli.wait(10000) == 2);
    CHECK(cli.err().find("--phone:") != std::string::npos);
  }
  {
    wa::test::Child cli(pair_cmd(db, "bad id", {}));
    CHECK(cli.wait(10000) == 2);
  }
  {
    wa::test::Child cli(pair_cmd(db, "biz-slow", {"--timeout", "0s"}));
    CHECK(cli.wait(10000) == 2);
  }
  // Already paired: nothing to do.
  mark_paired(c, "biz-slow", "15550009999:2@s.whatsapp.net");
  wa::test::Child cli(pair_cmd(db, "biz-slow", {}));
  CHECK(cli.wait(10000) == 0);
  CHECK(cli.out().find("already paired") != std::string::npos);
}

TEST_CASE("accounts pair --phone: the leader's responder answers with the code", "[qr][pg]") {
  wa::test::TestDatabase db;
  auto c = db.connect();
  wa::store::NotifyHub hub({db.url(), "test/notify"});
  auto pool = std::make_shared<wa::store::ConnectionPool>(db.url(), "test/pool", 4);
  wa::store::add_account(c, "biz-code", std::nullopt);
  wa::store::add_account(c, "biz-other", std::nullopt);

  std::mutex mu;
  std::vector<std::string> asked;
  wa::app::PairCodeResponderOptions opt;
  opt.poll_interval = std::chrono::seconds(30);  // the NOTIFY must wake it, not the poll
  wa::app::PairCodeResponder responder(
      hub, pool, "pod-a", led("biz-code"),
      [&](const std::string& business_id, const std::string& phone, bool push) {
        std::lock_guard lk(mu);
        asked.push_back(business_id + " " + phone + (push ? " push" : " quiet"));
        return std::string("ABCD-1234");  // the display form: stored without the dash
      },
      opt);

  // Not ready for pairing yet: the CLI waits for the leader's QR before asking.
  wa::test::Child cli(pair_cmd(db, "biz-code", {"--phone", "+1 555 000 1234", "--no-push", "--timeout", "30s"}));
  REQUIRE(wa::test::eventually([&] { return cli.out().find("ready for pairing") != std::string::npos; }, 10000));
  CHECK(c.exec("test: no request yet", "SELECT count(*) FROM wa_pair_code_requests").text(0, 0) == "0");
  store_qr(c, "biz-code", qr_string('c'));
  REQUIRE(wa::test::eventually([&] { return cli.out().find("Pair code: ABCD-1234") != std::string::npos; }, 10000));
  {
    std::lock_guard lk(mu);
    REQUIRE(asked.size() == 1);
    CHECK(asked[0] == "biz-code 15550001234 quiet");
  }
  auto row = c.exec("test: read the request", "SELECT state, answered_by, code FROM wa_pair_code_requests");
  REQUIRE(row.rows() == 1);
  CHECK(row.text(0, 0) == "answered");
  CHECK(row.text(0, 1) == "pod-a");
  CHECK(cli.out().find("+1555*****34") != std::string::npos);  // the phone is masked
  CHECK(cli.out().find("15550001234") == std::string::npos);

  mark_paired(c, "biz-code", "15550001234:3@s.whatsapp.net");
  CHECK(cli.wait(10000) == 0);
  CHECK(wa::test::eventually([&] { return responder.answered() == 1; }, 5000));

  // A request for an account this pod does not lead stays unanswered: the CLI gives up.
  store_qr(c, "biz-other", qr_string('o'));
  wa::test::Child other(pair_cmd(db, "biz-other", {"--phone", "+15550002222", "--timeout", "2s"}));
  CHECK(other.wait(15000) == 1);
  CHECK(other.err().find("no leader answered") != std::string::npos);
  CHECK(c.exec("test: read", "SELECT state FROM wa_pair_code_requests WHERE business_id = 'biz-other'").text(0, 0) ==
        "failed");
  std::lock_guard lk(mu);
  CHECK(asked.size() == 1);
}

TEST_CASE("accounts pair --phone reports the leader's failure", "[qr][pg]") {
  wa::test::TestDatabase db;
  auto c = db.connect();
  wa::store::NotifyHub hub({db.url(), "test/notify"});
  auto pool = std::make_shared<wa::store::ConnectionPool>(db.url(), "test/pool", 4);
  wa::store::add_account(c, "biz-fail", std::nullopt);
  wa::app::PairCodeResponder responder(
      hub, pool, "pod-b", led("biz-fail"),
      [](const std::string&, const std::string&, bool) -> std::string {
        throw std::runtime_error("the client is not waiting for pairing");
      });
  store_qr(c, "biz-fail", qr_string('f'));
  wa::test::Child cli(pair_cmd(db, "biz-fail", {"--phone", "+15550003333", "--timeout", "20s"}));
  CHECK(cli.wait(15000) == 1);
  CHECK(cli.err().find("could not get a pair code: the client is not waiting for pairing") != std::string::npos);
  // Counted just after the commit that the CLI saw.
  CHECK(wa::test::eventually([&] { return responder.failed() == 1; }, 5000));
}

TEST_CASE("accounts pair --relink makes a logged-out account pairable again", "[qr][pg]") {
  wa::test::TestDatabase db;
  auto c = db.connect();
  wa::store::add_account(c, "biz-out", std::string("15550004444:5@s.whatsapp.net"));
  const auto paired_key = wa::store::get_account(c, "biz-out")->lock_key;
  c.exec("test: logged out", "UPDATE wa_accounts SET status = 'logged_out' WHERE business_id = 'biz-out'");
  {
    wa::test::Child cli(pair_cmd(db, "biz-out", {"--timeout", "1s"}));
    CHECK(cli.wait(10000) == 1);
    CHECK(cli.err().find("--relink") != std::string::npos);
  }
  wa::test::Child cli(pair_cmd(db, "biz-out", {"--relink", "--timeout", "1s"}));
  CHECK(cli.wait(10000) == 1);  // reset, then nobody published a QR within 1 s
  CHECK(cli.out().find("reset for pairing") != std::string::npos);
  const auto a = wa::store::get_account(c, "biz-out");
  REQUIRE(a);
  CHECK(a->status == "disconnected");
  CHECK_FALSE(a->jid);
  CHECK(a->lease_epoch == 1);
  CHECK(a->lock_key != paired_key);
  CHECK(a->lock_key == wa::store::compute_lock_key(c, "biz-out", std::nullopt));
}

TEST_CASE("accounts pair --phone refuses a malformed code from the leader", "[qr][pg]") {
  wa::test::TestDatabase db;
  auto c = db.connect();
  wa::store::NotifyHub hub({db.url(), "test/notify"});
  auto pool = std::make_shared<wa::store::ConnectionPool>(db.url(), "test/pool", 4);
  wa::store::add_account(c, "biz-bad", std::nullopt);
  wa::app::PairCodeResponder responder(
      hub, pool, "pod-c", led("biz-bad"),
      [](const std::string&, const std::string&, bool) { return std::string("abcI0O"); });
  store_qr(c, "biz-bad", qr_string('b'));
  wa::test::Child cli(pair_cmd(db, "biz-bad", {"--phone", "+15550005555", "--timeout", "20s"}));
  CHECK(cli.wait(15000) == 1);
  CHECK(cli.err().find("malformed pair code") != std::string::npos);
  CHECK(c.exec("test: read", "SELECT state, code IS NULL FROM wa_pair_code_requests").text(0, 0) == "failed");
}

TEST_CASE("pair-code responder: an answer from a pod whose lease moved is refused and left to the new leader",
          "[qr][pg]") {
  wa::test::TestDatabase db;
  auto c = db.connect();
  wa::store::NotifyHub hub({db.url(), "test/notify"});
  auto pool = std::make_shared<wa::store::ConnectionPool>(db.url(), "test/pool", 4);
  wa::store::add_account(c, "biz-stale", std::nullopt);
  const auto old_epoch = wa::store::begin_lease(c, "biz-stale", "pod-a").epoch;
  std::int64_t new_epoch = 0;
  wa::app::PairCodeResponderOptions opt;
  opt.poll_interval = std::chrono::seconds(30);  // one attempt: the insert's NOTIFY wakes it
  auto stale = std::make_unique<wa::app::PairCodeResponder>(
      hub, pool, "pod-a", led("biz-stale", old_epoch),
      [&](const std::string& business_id, const std::string&, bool) {
        // While pod-a's client is busy asking, pod-b takes the account over.
        if (new_epoch == 0) {
          auto b = wa::pg::Connection::open(db.url(), "test: pod b");
          new_epoch = wa::store::begin_lease(b, business_id, "pod-b").epoch;
        }
        return std::string("ABCD-1234");
      },
      opt);
  const auto id = wa::store::insert_pair_code_request(c, "biz-stale", "15550001234", true);
  REQUIRE(wa::test::eventually([&] { return stale->refused() >= 1; }, 10000));
  stale.reset();
  CHECK(new_epoch == old_epoch + 1);
  auto q = wa::store::get_pair_code_request(c, id);
  REQUIRE(q);
  CHECK(q->state == "pending");
  CHECK_FALSE(q->code);

  // The new leader's responder serves the same request.
  wa::app::PairCodeResponder fresh(
      hub, pool, "pod-b", led("biz-stale", new_epoch),
      [](const std::string&, const std::string&, bool) { return std::string("WXYZ-5678"); });
  REQUIRE(wa::test::eventually([&] { return fresh.answered() == 1; }, 10000));
  q = wa::store::get_pair_code_request(c, id);
  CHECK(q->state == "answered");
  CHECK(q->code == "WXYZ5678");
  CHECK(q->answered_by == "pod-b");
}
