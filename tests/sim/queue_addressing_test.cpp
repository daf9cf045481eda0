// The pending queue's append-only log (replay, torn tail, compaction, the old queue.tsv import,
// refusals) and the LID addressing helpers (the permutation, JIDs both ways, stanza rewriting).
#include <catch2/catch.hpp>

#include <fstream>

#include "core/binary/jid.h"
#include "core/binary/node.h"
#include "sim/addressing.h"
#include "sim/pending_queue.h"
#include "tests/sim/harness.h"

using namespace wa::sim;
using wa::binary::Jid;
using wa::binary::Node;
using wa::simtest::file_text;
using wa::simtest::TempDir;

namespace {

PendingQueue::Item item(const std::string& id, std::size_t n = 4) {
  return PendingQueue::Item{"message", id, wa::crypto::Bytes(n, 0xAB), {}};
}

}  // namespace

TEST_CASE("pending queue: appends, replays, ignores a torn tail, compacts", "[sim][queue]") {
  TempDir dir;
  const auto file = dir.path() / "queue.log";
  {
    PendingQueue q(dir.path());
    CHECK(q.push({15550001, 1}, item("m1")));
    CHECK(q.push({15550001, 1}, item("m2")));
    CHECK(q.push({15550002, 0}, item("m3")));
    const auto before = std::filesystem::file_size(file);
    CHECK(q.drop({15550001, 1}, "message", "m1"));
    CHECK_FALSE(q.drop({15550001, 1}, "message", "m1"));
    // A drop appends one short line; nothing is rewritten.
    CHECK(std::filesystem::file_size(file) > before);
    CHECK(std::filesystem::file_size(file) < before + 64);
    CHECK(file_text(file).find("\nd\t15550001:1\tmessage\tm1\n") != std::string::npos);
  }
  {
    std::ofstream(file, std::ios::app) << "a\t15550001:1\tmessage\tm9\tab";  // torn: no newline
  }
  {
    PendingQueue q(dir.path());
    REQUIRE(q.size({15550001, 1}) == 1);
    CHECK(q.items({15550001, 1})->front().id == "m2");
    CHECK(q.items({15550001, 1})->front().stanza == wa::crypto::Bytes(4, 0xAB));
    CHECK(q.size({15550002, 0}) == 1);
    // Loading compacted the log: the acked m1 and the torn line are gone.
    CHECK(file_text(file).find("m1") == std::string::npos);
    CHECK(file_text(file).find("m9") == std::string::npos);
    CHECK(q.take({15550002, 0}).size() == 1);
    CHECK(q.size({15550002, 0}) == 0);
  }
  {
    PendingQueue q(dir.path());
    CHECK(q.size({15550002, 0}) == 0);  // a take is persisted as a clear
    // Many pushes and drops stay bounded: the log is rewritten once it is mostly dead entries.
    for (int i = 0; i < 3000; ++i) {
      std::string id = "x";  // (not "x" + to_string: a GCC 12 -Wrestrict false positive)
      id += std::to_string(i);
      REQUIRE(q.push({15550003, 2}, item(id, 2000)));
      REQUIRE(q.drop({15550003, 2}, "message", id));
    }
    CHECK(q.file_bytes() < 6u * 1024 * 1024);
    CHECK(std::filesystem::file_size(file) == q.file_bytes());
  }
}

TEST_CASE("pending queue: an ack settles only the stanza of its origin, also after a replay", "[sim][queue]") {
  TempDir dir;
  const PendingQueue::DeviceKey me{15550001, 1};
  const std::string delivery = "";
  const std::string read = "read";
  // The contact's delivery receipt and the own phone's receipt share the message id.
  const auto contact = queue_origin({15550009, 0}, &delivery);
  const auto own_phone = queue_origin({15550001, 0}, &delivery);
  CHECK(contact == "15550009:0/");
  CHECK(queue_origin({15550009, 0}, &read) == "15550009:0/read");
  CHECK(queue_origin({15550009, 2}, nullptr) == "15550009:2");
  {
    PendingQueue q(dir.path());
    REQUIRE(q.push(me, PendingQueue::Item{"receipt", "3EB0A", wa::crypto::Bytes(2, 1), own_phone}));
    REQUIRE(q.push(me, PendingQueue::Item{"receipt", "3EB0A", wa::crypto::Bytes(2, 2), contact}));
    REQUIRE(q.push(me, PendingQueue::Item{"receipt", "3EB0A", wa::crypto::Bytes(2, 3),
                                          queue_origin({15550009, 0}, &read)}));
    CHECK(q.drop(me, "receipt", "3EB0A", own_phone));
    REQUIRE(q.size(me) == 2);
    CHECK(q.items(me)->front().origin == contact);
  }
  {
    PendingQueue q(dir.path());  // the origin-scoped drop replays the same way
    REQUIRE(q.size(me) == 2);
    CHECK(q.drop(me, "receipt", "3EB0A", contact));
    REQUIRE(q.size(me) == 1);
    CHECK(q.items(me)->front().origin == "15550009:0/read");
    CHECK(q.drop(me, "receipt", "3EB0A"));  // no origin (an ack without `to`): all of them
    CHECK(q.size(me) == 0);
  }
  // Logs from before origins (5-field adds, 4-field drops) still load; damaged origins do not.
  CHECK(parse_queue_log("a\t1:1\treceipt\tid\tab\t2:0/read\nd\t1:1\treceipt\tid\t2:0/read\n").size() == 2);
  CHECK_THROWS_AS(parse_queue_log("a\t1:1\treceipt\tid\tab\tx:0\n"), QueueLogError);
  CHECK_THROWS_AS(parse_queue_log("d\t1:1\treceipt\tid\t2:0/a b\n"), QueueLogError);
  CHECK_THROWS_AS(parse_queue_log("d\t1:1\treceipt\tid\t2:0\textra\n"), QueueLogError);
}

TEST_CASE("pending queue: limits, refusals of a damaged log, import of an old queue.tsv", "[sim][queue]") {
  TempDir dir;
  {
    PendingQueue q(dir.path(), QueueLimits{2, 3, 1024, 16});
    CHECK(q.push({1555000111, 1}, item("a")));
    CHECK(q.push({1555000111, 1}, item("b")));
    CHECK_FALSE(q.push({1555000111, 1}, item("c")));  // per device
    CHECK(q.push({1555000112, 1}, item("d")));
    CHECK_FALSE(q.push({1555000113, 1}, item("e")));  // total
  }
  for (const char* bad :
       {"z\t1:1\n", "a\t1:1\tmessage\tid\tabc\n", "a\tx:1\tmessage\tid\tab\n", "a\t1:1\tother\tid\tab\n",
        "d\t1:1\tmessage\n", "a\t1:70000\tmessage\tid\tab\n", "a\t1:1\tmessage\tid\tzz\n"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_queue_log(bad), QueueLogError);
  }
  CHECK(parse_queue_log("# comment\n\nc\t1:0\n").size() == 1);

  TempDir old;
  {
    std::ofstream(old.path() / "queue.tsv") << "# device\tclass\tid\tstanza\n"
                                            << "15550001:1@s.whatsapp.net\tmessage\tm1\tf800\n"
                                            << "15550002@s.whatsapp.net\treceipt\tr1\tf800\n";
  }
  PendingQueue q(old.path());
  CHECK(q.size({15550001, 1}) == 1);
  CHECK(q.size({15550002, 0}) == 1);
  CHECK_FALSE(std::filesystem::exists(old.path() / "queue.tsv"));
  CHECK(std::filesystem::exists(old.path() / "queue.log"));
}

TEST_CASE("LID addressing: the permutation, JIDs both ways, stanzas per mode", "[sim][lid]") {
  for (std::uint64_t user : {15550001ull, 4915123456789ull, 999999999999999ull, 1000000ull}) {
    const auto lid = lid_of(user);
    CHECK(lid != user);
    CHECK(user_of_lid(lid) == std::optional<std::uint64_t>(user));
    CHECK(device_of(lid_jid(user, 3).to_string()) ==
          std::optional<std::pair<std::uint64_t, std::uint32_t>>({user, 3}));
  }
  CHECK(lid_of(15550001) != lid_of(15550002));
  CHECK_FALSE(user_of_lid(1000000000000000ull));
  CHECK(device_of("15550001@s.whatsapp.net") ==
        std::optional<std::pair<std::uint64_t, std::uint32_t>>({15550001, 0}));
  CHECK_FALSE(device_of("120363@g.us"));
  CHECK_FALSE(device_of("abc@s.whatsapp.net"));
  CHECK(addressing_for("auto", 2) == Addressing::pn);
  CHECK(addressing_for("auto", 3) == Addressing::lid);
  CHECK(addressing_for("pn", 3) == Addressing::pn);

  const Jid a_dev = pn_jid(15550001, 2);
  Node dm{"message", {{"id", std::string("m")}, {"from", a_dev}, {"t", std::string("1")}}, {}};
  CHECK(address_for(dm, Addressing::pn) == dm);
  Node l = address_for(dm, Addressing::lid);
  CHECK(l.attr_text("from") == lid_jid(15550001, 2).to_string());
  CHECK(l.attr_text("sender_pn") == std::optional<std::string>("15550001@s.whatsapp.net"));
  CHECK(l.attr_text("addressing_mode") == std::optional<std::string>("lid"));

  Node copy{"message", {{"id", std::string("m")}, {"from", a_dev}, {"recipient", pn_jid(15550009)}}, {}};
  Node lc = address_for(copy, Addressing::lid);
  CHECK(lc.attr_text("recipient") == lid_jid(15550009).to_string());
  CHECK(lc.attr_text("peer_recipient_pn") == std::optional<std::string>("15550009@s.whatsapp.net"));

  const Jid group = *Jid::parse("120363001@g.us");
  Node gm{"message", {{"id", std::string("m")}, {"from", group}, {"participant", a_dev}}, {}};
  Node lg = address_for(gm, Addressing::lid);
  CHECK(lg.attr_text("from") == std::optional<std::string>("120363001@g.us"));
  CHECK(lg.attr_text("participant") == lid_jid(15550001, 2).to_string());
  CHECK(lg.attr_text("participant_pn") == std::optional<std::string>("15550001@s.whatsapp.net"));
  CHECK_FALSE(lg.attr("sender_pn"));

  Node receipt{"receipt", {{"id", std::string("m")}, {"from", a_dev}}, {}};
  Node lr = address_for(receipt, Addressing::lid);
  CHECK(lr.attr_text("from") == lid_jid(15550001, 2).to_string());
  CHECK_FALSE(lr.attr("sender_pn"));
  Node iq{"iq", {{"from", a_dev}}, {}};
  CHECK(address_for(iq, Addressing::lid) == iq);
}
