// The outbox sender end to end: `waconnector messages send` (any process) → the leader's client
// claims the row, fetches device lists and bundles from wasim, encrypts per device and sends; the
// virtual phone decrypts it (wasim's GET /admin/phones/{phone}/messages). The row moves to `sent`
// on the server's ack, then to `delivered` on the phone's receipt. Then the leader is SIGKILLed while rows are queued: the next leader sends
// each of them, with the same id, and the phone receives each exactly once.
#include <signal.h>

#include <array>
#include <cstdio>
#include <map>
#include <thread>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "../app/http_client.h"
#include "cluster.h"
#include "traffic.h"
#include "core/binary/json.h"
#include "store/outbox.h"

namespace wa::e2e {
namespace {

std::string phone(int n) { return fmt::format("+1555{:07d}", 2000 + n); }
std::string user_jid(const std::string& phone) { return user_jid_of_phone(phone); }
std::string jstr(const binary::Json* j) { return j && j->type == binary::Json::Type::string ? j->text : ""; }

using Received = PhoneMessage;

// What the virtual phone decrypted so far (wasim keeps the whole list; each call adds the new ones).
std::vector<Received> phone_messages(Cluster& c, const std::string& phone) {
  std::string error;
  auto got = e2e::phone_messages(c.wasim().admin_port(), phone, &error);
  INFO(error);
  REQUIRE(got.has_value());
  return *got;
}

std::size_t count_id(const std::vector<Received>& list, const std::string& id) {
  std::size_t n = 0;
  for (const auto& m : list) n += m.id == id ? 1 : 0;
  return n;
}

struct Run {
  int code = -1;
  std::string out;
};

Run cli(const std::string& args) {
  const std::string cmd = "WACONN_LOG_LEVEL=error '" + hatest::bin_dir() + "/waconnector' " + args + " 2>&1";
  Run r;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string outbox_status(Cluster& c, const std::string& id) {
  auto conn = c.db().connect("outbox status");
  auto m = store::find_outbox(conn, Cluster::kAccount, id);
  return m ? m->status : "";
}

// The virtual phone answers every message it decrypts with a delivery receipt (sim/README), so
// the row goes queued -> sent (server ack) -> delivered.
bool reaches_delivered(Cluster& c, const std::string& id) {
  return hatest::wait_for([&] { return outbox_status(c, id) == "delivered"; }, 15s);
}

// Lines of `log` with event `event` whose text contains `needle`.
std::size_t log_lines(const std::string& log, const std::string& event, const std::string& needle) {
  std::size_t n = 0;
  std::size_t start = 0;
  while (start < log.size()) {
    auto end = log.find('\n', start);
    if (end == std::string::npos) end = log.size();
    const auto line = log.substr(start, end - start);
    if (line.find("\"" + event + "\"") != std::string::npos && line.find(needle) != std::string::npos) ++n;
    start = end + 1;
  }
  return n;
}

// Makes the phone a messaging party: its first admin call uploads its pre-keys (device 0).
void create_phone(Cluster& c, const std::string& phone) {
  std::string reply;
  const int st = c.admin_post("/admin/phones", fmt::format("{{\"phone\":\"{}\"}}", phone), &reply);
  INFO(reply);
  REQUIRE(st >= 200);
  REQUIRE(st < 300);
  REQUIRE(phone_messages(c, phone).empty());
}

}  // namespace

TEST_CASE("e2e send: CLI to a wasim virtual phone - received once - outbox row delivered", "[pg][e2e][send]") {
  Cluster c({}, 2);
  c.pair(phone(1));
  const std::string bob = phone(2);
  create_phone(c, bob);

  auto sent = cli(fmt::format("messages send --database-url '{}' --business-id {} --to {} --text 'héllo bob 1'",
                              c.db().url(), Cluster::kAccount, user_jid(bob)));
  INFO(sent.out);
  REQUIRE(sent.code == 0);
  const auto j = binary::parse_json(sent.out);
  const std::string id1 = jstr(j.find("id"));
  REQUIRE(!id1.empty());
  CHECK(jstr(j.find("status")) == "queued");

  std::vector<Received> got;
  REQUIRE(hatest::wait_for(
      [&] {
        got = phone_messages(c, bob);
        return count_id(got, id1) > 0;
      },
      30s));
  REQUIRE(got.size() == 1);
  CHECK(got[0].text == "héllo bob 1");
  CHECK(got[0].enc == "pkmsg");
  CHECK(got[0].error.empty());
  CHECK(got[0].chat == user_jid(phone(1)));
  REQUIRE(reaches_delivered(c, id1));

  // The phone never answered, so the session is not confirmed yet and libsignal keeps sending
  // pkmsg (whatsmeow and Baileys behave the same); the next test has the phone answer. The
  // caller's own id is used.
  const std::string id2 = "3EB0CAFE0000000000000002";
  sent = cli(fmt::format("messages send --database-url '{}' --business-id {} --to {} --text 'second' --id {}",
                         c.db().url(), Cluster::kAccount, user_jid(bob), id2));
  INFO(sent.out);
  REQUIRE(sent.code == 0);
  REQUIRE(hatest::wait_for(
      [&] {
        got = phone_messages(c, bob);
        return count_id(got, id2) > 0;
      },
      30s));
  REQUIRE(got.size() == 2);
  CHECK(got[1].text == "second");
  CHECK(got[1].error.empty());
  REQUIRE(reaches_delivered(c, id2));

  // The first message to the phone was a pkmsg with <device-identity>.
  const int leader = c.logged_in_pod();
  REQUIRE(leader >= 0);
  const auto log = c.pods()[static_cast<std::size_t>(leader)]->log();
  CHECK(log_lines(log, "wa_message_sent", id1) == 1);
  CHECK(log_lines(log, "wa_message_sent", "\"pkmsg\":true") >= 1);
}

TEST_CASE("e2e send: the phone answers - the next message is a msg", "[pg][e2e][send]") {
  Cluster c({}, 2);
  c.pair(phone(3));
  const std::string bob = phone(4);
  create_phone(c, bob);
  auto first = cli(fmt::format("messages send --database-url '{}' --business-id {} --to {} --text one --id 3EB0AA01",
                               c.db().url(), Cluster::kAccount, user_jid(bob)));
  REQUIRE(first.code == 0);
  REQUIRE(hatest::wait_for([&] { return count_id(phone_messages(c, bob), "3EB0AA01") == 1; }, 30s));
  // Bob replies: the connector decrypts his msg on the session our pkmsg started, which confirms it.
  std::string reply;
  const int st = c.admin_post("/admin/phones/" + bob + "/messages",
                              fmt::format("{{\"to\":\"{}\",\"text\":\"back\"}}", user_jid(phone(3))), &reply);
  INFO(reply);
  REQUIRE(st == 200);
  const int leader = c.logged_in_pod();
  REQUIRE(leader >= 0);
  auto& pod = *c.pods()[static_cast<std::size_t>(leader)];
  REQUIRE(hatest::wait_for([&] { return pod.log().find("wa_message_enc") != std::string::npos; }, 15s));
  auto second = cli(fmt::format("messages send --database-url '{}' --business-id {} --to {} --text two --id 3EB0AA02",
                                c.db().url(), Cluster::kAccount, user_jid(bob)));
  REQUIRE(second.code == 0);
  std::vector<Received> got;
  REQUIRE(hatest::wait_for(
      [&] {
        got = phone_messages(c, bob);
        return count_id(got, "3EB0AA02") == 1;
      },
      30s));
  CHECK(got.back().text == "two");
  CHECK(got.back().error.empty());
  // Bob's phone got a pkmsg first and, after answering, a msg (our own phone's DSM copy may still be
  // a pkmsg: it never answered).
  CHECK(got.front().enc == "pkmsg");
  CHECK(got.back().enc == "msg");
  const auto log = pod.log();
  CHECK(log_lines(log, "wa_message_sent", "\"id\":\"3EB0AA01\"") == 1);
  CHECK(log_lines(log, "wa_message_sent", "\"id\":\"3EB0AA02\"") == 1);
  REQUIRE(reaches_delivered(c, "3EB0AA02"));
}

TEST_CASE("e2e send: SIGKILL the leader with queued rows - each is received once with its id", "[pg][e2e][send]") {
  Cluster c({}, 3);
  c.pair(phone(5));
  const std::string bob = phone(6);
  create_phone(c, bob);
  // One message first, so the session exists before the failover.
  REQUIRE(cli(fmt::format("messages send --database-url '{}' --business-id {} --to {} --text warmup --id 3EB0BB00",
                          c.db().url(), Cluster::kAccount, user_jid(bob)))
              .code == 0);
  REQUIRE(hatest::wait_for([&] { return count_id(phone_messages(c, bob), "3EB0BB00") == 1; }, 30s));

  const int leader = c.logged_in_pod();
  REQUIRE(leader >= 0);
  auto& pod = *c.pods()[static_cast<std::size_t>(leader)];
  // Frozen, the leader can claim nothing: the rows are queued when it dies.
  pod.signal(SIGSTOP);
  std::vector<std::string> ids;
  {
    auto conn = c.db().connect("enqueue");
    for (int i = 1; i <= 5; ++i) {
      store::EnqueueRequest req;
      req.business_id = Cluster::kAccount;
      req.recipient = user_jid(bob);
      req.text = fmt::format("during failover {}", i);
      req.id = fmt::format("3EB0BB{:02d}", i);
      ids.push_back(store::enqueue(conn, req).message.id);
    }
  }
  pod.signal(SIGKILL);
  REQUIRE(c.wait_logged_in(40s, leader) >= 0);
  std::vector<Received> got;
  REQUIRE(hatest::wait_for(
      [&] {
        got = phone_messages(c, bob);
        for (const auto& id : ids)
          if (count_id(got, id) == 0) return false;
        return true;
      },
      40s));
  // Give a duplicate time to show up.
  std::this_thread::sleep_for(2s);
  got = phone_messages(c, bob);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    INFO(ids[i]);
    CHECK(count_id(got, ids[i]) == 1);
    for (const auto& m : got)
      if (m.id == ids[i]) {
        CHECK(m.text == fmt::format("during failover {}", i + 1));
        CHECK(m.error.empty());
      }
    CHECK(reaches_delivered(c, ids[i]));
  }
  CHECK(count_id(got, "3EB0BB00") == 1);
  CHECK(got.size() == ids.size() + 1);
}

}  // namespace wa::e2e

namespace wa::e2e {

TEST_CASE("e2e send: a group text reaches the other member's phone", "[pg][e2e][send]") {
  Cluster c({}, 2);
  const std::string alice = phone(7);
  c.pair(alice);
  const std::string bob = phone(8);
  create_phone(c, bob);
  std::string reply;
  const int st = c.admin_post("/admin/groups",
                              fmt::format(R"({{"subject":"team","participants":["{}","{}"]}})", alice, bob), &reply);
  INFO(reply);
  REQUIRE(st == 201);
  const std::string group = jstr(binary::parse_json(reply).find("jid"));
  REQUIRE(group.find("@g.us") != std::string::npos);
  for (int i = 1; i <= 2; ++i) {
    const std::string id = fmt::format("3EB0CC{:02d}", i);
    auto sent = cli(fmt::format("messages send --database-url '{}' --business-id {} --to {} --text 'to the group {}' --id {}",
                                c.db().url(), Cluster::kAccount, group, i, id));
    INFO(sent.out);
    REQUIRE(sent.code == 0);
    std::vector<Received> got;
    REQUIRE(hatest::wait_for(
        [&] {
          got = phone_messages(c, bob);
          return count_id(got, id) > 0;
        },
        30s));
    REQUIRE(count_id(got, id) == 1);
    CHECK(got.back().chat == group);
    CHECK(got.back().text == fmt::format("to the group {}", i));
    CHECK(got.back().error.empty());
    CHECK(reaches_delivered(c, id));
  }
}

}  // namespace wa::e2e
