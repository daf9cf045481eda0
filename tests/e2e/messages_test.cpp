// Receiving through the real pieces (issue 8): a wasim virtual phone sends 1:1 text to the paired
// account; each message lands in the inbox exactly once (as `waconnector messages list` prints it),
// the first as a pkmsg and the rest as msg; and across a SIGKILL of the leader while the phone keeps
// sending, the new leader continues the same Signal session from PostgreSQL: every message once, no
// new pkmsg, no decryption failure, no retry receipt.
#include <signal.h>

#include <cstdio>
#include <map>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "cluster.h"
#include "traffic.h"

namespace wa::e2e {
namespace {

std::string phone(int n) {
  return fmt::format("+1555{:07d}", 2000 + n);
}

// `waconnector messages list --json`, parsed (tests/e2e/traffic.h).
std::vector<InboxRow> inbox(Cluster& c) {
  std::string error;
  auto rows = e2e::inbox(c.db().url(), Cluster::kAccount, &error);
  INFO("messages list: " << error);
  REQUIRE(rows.has_value());
  return *rows;
}

// The phone sends `text` to `to`; returns the message id wasim reports.
std::string phone_send(Cluster& c, const std::string& from_phone, const std::string& to,
                       const std::string& text) {
  const auto r = e2e::phone_send(c.wasim().admin_port(), from_phone, to, text);
  INFO("POST /admin/phones/{phone}/messages -> " << r.status << " " << r.reply);
  REQUIRE(r.status == 200);
  return r.id;
}

// The enc types the pod decrypted, in order, and the count of lines with `needle`.
std::vector<std::string> enc_types(const std::string& log) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while ((pos = log.find("\"wa_message_enc\"", pos)) != std::string::npos) {
    const auto end = log.find('\n', pos);
    const auto line = log.substr(pos, end - pos);
    pos = end;
    for (const char* t : {"pkmsg", "skmsg", "msg"})
      if (line.find(std::string("\"type\":\"") + t + "\"") != std::string::npos) {
        out.emplace_back(t);
        break;
      }
  }
  return out;
}

std::size_t count_of(const std::string& log, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = log.find(needle); pos != std::string::npos; pos = log.find(needle, pos + 1)) ++n;
  return n;
}

// Another virtual phone (a contact), created in wasim.
std::string contact(Cluster& c, int n) {
  const auto p = phone(100 + n);
  std::string reply;
  const int st = c.admin_post("/admin/phones", fmt::format("{{\"phone\":\"{}\"}}", p), &reply);
  INFO("POST /admin/phones -> " << st << " " << reply);
  REQUIRE(st >= 200);
  REQUIRE(st < 300);
  return p;
}

// Pairs and waits until the leader uploaded its pre-keys (before that a phone has no bundle to
// start a session with). Returns the leader's index.
int pair_and_upload(Cluster& c, const std::string& p, std::string& jid) {
  jid = c.pair(p);
  int leader = -1;
  REQUIRE(hatest::wait_for(
      [&] {
        leader = c.logged_in_pod();
        return leader >= 0 && c.pods()[static_cast<std::size_t>(leader)]->log().find(
                                  "wa_client_prekeys_uploaded") != std::string::npos;
      },
      20s));
  return leader;
}

// One-time pre-keys the account still holds: each new Signal session a contact starts uses one.
std::int64_t pre_keys_held(Cluster& c) {
  auto conn = c.db().connect("count pre-keys");
  return conn
      .exec("count pre-keys", "SELECT count(*) FROM wa_device_pre_keys WHERE business_id = $1",
            {std::string(Cluster::kAccount)})
      .i64(0, 0);
}

// A sender keeps sending pkmsg until it hears from us (Signal's unacknowledged session), then msg;
// never a pkmsg after a msg.
void check_pkmsg_then_msg(const std::vector<std::string>& types) {
  bool seen_msg = false;
  for (std::size_t i = 0; i < types.size(); ++i) {
    INFO("enc " << i << " is " << types[i]);
    CHECK((types[i] == "pkmsg" || types[i] == "msg"));
    if (types[i] == "msg")
      seen_msg = true;
    else
      CHECK_FALSE(seen_msg);
  }
}

}  // namespace

TEST_CASE("messages: a virtual phone's 1:1 texts land in the inbox exactly once, pkmsg first then msg",
          "[pg][e2e][messages]") {
  Cluster c;
  std::string jid;
  const int leader = pair_and_upload(c, phone(1), jid);
  const auto to = user_jid_of_device(jid);
  const auto sender = contact(c, 1);
  const auto keys_before = pre_keys_held(c);

  std::vector<std::string> ids;
  std::map<std::string, std::string> text_of;
  for (int i = 0; i < 5; ++i) {
    const auto text = fmt::format("hello {} ✓", i);
    const auto id = phone_send(c, sender, to, text);
    ids.push_back(id);
    text_of[id] = text;
  }
  std::vector<InboxRow> rows;
  REQUIRE(hatest::wait_for(
      [&] {
        rows = inbox(c);
        return rows.size() >= ids.size();
      },
      20s));
  std::this_thread::sleep_for(500ms);  // a duplicate would show up now
  rows = inbox(c);
  REQUIRE(rows.size() == ids.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    INFO("row " << i);
    CHECK(rows[i].id == ids[i]);  // in the order sent
    CHECK(rows[i].text == text_of[ids[i]]);
    CHECK(rows[i].chat.find('@') != std::string::npos);
    CHECK(rows[i].chat.find(':') == std::string::npos);  // the chat is a user JID, not a device
  }
  const auto log = c.pods()[static_cast<std::size_t>(leader)]->log();
  const auto types = enc_types(log);
  REQUIRE(types.size() == ids.size());
  CHECK(types.front() == "pkmsg");
  check_pkmsg_then_msg(types);
  // One session: exactly one one-time pre-key used for all five.
  CHECK(keys_before - pre_keys_held(c) == 1);
  CHECK(count_of(log, "\"outcome\":\"failed\"") == 0);
  CHECK(count_of(log, "wa_message_retry_receipt") == 0);
  // The leader counted them (and no decryption failure).
  const auto metrics = hatest::http_get(c.pods()[static_cast<std::size_t>(leader)]->http_port(), "/metrics").body;
  CHECK(metrics.find("waconnector_messages_received_total{kind=\"text\"} 5") != std::string::npos);
  CHECK(metrics.find("waconnector_decrypt_failures_total{reason=\"bad_mac\"} 0") != std::string::npos);
  // Never a message body in the logs.
  CHECK(log.find("hello 0") == std::string::npos);
}

TEST_CASE(
    "messages: SIGKILL the leader while the phone keeps sending - every message once, same Signal session",
    "[pg][e2e][messages][failover]") {
  Cluster c;
  std::string jid;
  const int first = pair_and_upload(c, phone(2), jid);
  const auto to = user_jid_of_device(jid);
  const auto sender = contact(c, 2);

  std::vector<std::string> ids;
  auto send = [&](int i) { ids.push_back(phone_send(c, sender, to, fmt::format("m{}", i))); };
  for (int i = 0; i < 3; ++i) send(i);
  REQUIRE(hatest::wait_for([&] { return inbox(c).size() >= 3; }, 20s));
  const auto keys_before = pre_keys_held(c);

  // Keep sending while the leader dies and another pod takes over.
  int i = 3;
  for (; i < 8; ++i) {
    send(i);
    std::this_thread::sleep_for(50ms);
  }
  c.pods()[static_cast<std::size_t>(first)]->signal(SIGKILL);
  for (; i < 20; ++i) {
    send(i);
    std::this_thread::sleep_for(150ms);
  }
  const int second = c.wait_logged_in(40s, first);
  REQUIRE(second >= 0);
  for (; i < 25; ++i) send(i);

  std::vector<InboxRow> rows;
  REQUIRE(hatest::wait_for(
      [&] {
        rows = inbox(c);
        return rows.size() >= ids.size();
      },
      30s));
  std::this_thread::sleep_for(1s);
  rows = inbox(c);
  std::multiset<std::string> got;
  for (const auto& r : rows) got.insert(r.id);
  CHECK(rows.size() == ids.size());
  for (const auto& id : ids) {
    INFO("message " << id);
    CHECK(got.count(id) == 1);
  }
  // The new leader continued the stored session: no pre-key used after the first messages (a new
  // session would take one), no decryption failure, no retry receipt anywhere.
  CHECK(pre_keys_held(c) == keys_before);
  const auto log = c.pods()[static_cast<std::size_t>(second)]->log();
  const auto types = enc_types(log);
  CHECK(!types.empty());
  check_pkmsg_then_msg(types);
  for (auto& p : c.pods()) {
    const auto l = p->log();
    CHECK(count_of(l, "\"outcome\":\"failed\"") == 0);
    CHECK(count_of(l, "wa_message_retry_receipt") == 0);
  }
}

}  // namespace wa::e2e
