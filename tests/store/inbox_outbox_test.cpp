// The durable inbox and outbox (store/inbox.h, store/outbox.h) against PostgreSQL.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "store/accounts.h"
#include "store/fenced_write.h"
#include "store/inbox.h"
#include "store/notify.h"
#include "store/outbox.h"
#include "store/utf8.h"
#include "tests/store/test_db.h"

using namespace wa;

namespace {

store::InboxMessage text_message(const std::string& id, const std::string& text) {
  store::InboxMessage m;
  m.id = id;
  m.chat = "15550001111@s.whatsapp.net";
  m.sender = "15550001111:3@s.whatsapp.net";
  m.text = text;
  m.server_ts = 1790000000;
  const std::string cipher = "cipher:" + id;
  m.ciphertext_hash =
      store::ciphertext_hash(reinterpret_cast<const std::uint8_t*>(cipher.data()), cipher.size());
  return m;
}

std::int64_t count(pg::Connection& c, const char* sql) {
  return c.exec("count", sql).i64(0, 0);
}

}  // namespace

TEST_CASE("inbox: a redelivered ciphertext is found by its hash and never stored twice",
          "[store][pg][inbox]") {
  test::TestDatabase db;
  auto c = db.connect();
  store::add_account(c, "acme", std::nullopt);
  const auto epoch = store::begin_lease(c, "acme", "pod-a").epoch;
  store::WriteFence fence("acme", epoch);

  auto m = text_message("AAA1", "héllo");
  CHECK_FALSE(store::find_inbox_by_hash(c, "acme", m.ciphertext_hash));
  std::optional<std::int64_t> first;
  // The same kind of fenced transaction as PgSignalStore::transaction(): decrypt + store in one.
  fence.write(c, "decrypt", [&](pg::Connection& tx) { first = store::insert_inbox(tx, "acme", m); });
  REQUIRE(first == std::optional<std::int64_t>(1));

  const auto found = store::find_inbox_by_hash(c, "acme", m.ciphertext_hash);
  REQUIRE(found);
  CHECK(found->id == "AAA1");
  CHECK(found->text == std::optional<std::string>("héllo"));
  CHECK(found->sender == "15550001111:3@s.whatsapp.net");

  std::optional<std::int64_t> again = 99;
  fence.write(c, "decrypt", [&](pg::Connection& tx) { again = store::insert_inbox(tx, "acme", m); });
  CHECK_FALSE(again);
  // The same message id from the same sender with another ciphertext (a sender's retry) is a duplicate too.
  auto retry = text_message("AAA1", "héllo");
  retry.ciphertext_hash = store::ciphertext_hash(reinterpret_cast<const std::uint8_t*>("other"), 5);
  fence.write(c, "decrypt", [&](pg::Connection& tx) { again = store::insert_inbox(tx, "acme", retry); });
  CHECK_FALSE(again);
  CHECK(count(c, "SELECT count(*) FROM wa_inbox") == 1);

  // A decryption that fails after the insert rolls the row and its number back.
  CHECK_THROWS(fence.write(c, "decrypt", [&](pg::Connection& tx) {
    store::insert_inbox(tx, "acme", text_message("BBB2", "x"));
    throw std::runtime_error("bad mac");
  }));
  CHECK(count(c, "SELECT count(*) FROM wa_inbox") == 1);
  fence.write(c, "decrypt", [&](pg::Connection& tx) {
    again = store::insert_inbox(tx, "acme", text_message("BBB2", "x"));
  });
  CHECK(again == std::optional<std::int64_t>(2));

  // Other accounts have their own numbering and their own dedup.
  store::add_account(c, "other", std::nullopt);
  c.exec_simple("begin", "BEGIN");
  CHECK(store::insert_inbox(c, "other", m) == std::optional<std::int64_t>(1));
  c.exec_simple("commit", "COMMIT");
}

TEST_CASE("inbox: a reader paging while two writers insert sees every row exactly once, in order",
          "[store][pg][inbox]") {
  test::TestDatabase db;
  {
    auto c = db.connect();
    store::add_account(c, "acme", std::nullopt);
  }
  constexpr int kPerWriter = 150;
  std::atomic<int> writers_done{0};
  auto writer = [&](int w) {
    auto c = db.connect("writer");
    std::mt19937 rng(static_cast<unsigned>(w) * 7919u);
    for (int i = 0; i < kPerWriter; ++i) {
      pg::Transaction tx(c, "insert");
      REQUIRE(store::insert_inbox(c, "acme", text_message(std::to_string(w) + "-" + std::to_string(i), "t")));
      // Hold the transaction open after taking the number: with a plain sequence this is exactly the
      // window in which a later number commits first and a reader skips the earlier one.
      if (rng() % 4 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 2000));
      tx.commit();
    }
    ++writers_done;
  };
  std::thread t1(writer, 1), t2(writer, 2);
  auto r = db.connect("reader");
  std::vector<store::InboxMessage> seen;
  std::int64_t after = 0;
  int pages = 0;
  for (;;) {
    const bool done_before = writers_done.load() == 2;
    const auto page = store::list_inbox(r, "acme", after, 7);
    ++pages;
    for (const auto& m : page) {
      seen.push_back(m);
      after = m.seq;
    }
    if (page.empty() && done_before) break;
  }
  t1.join();
  t2.join();
  REQUIRE(seen.size() == 2 * kPerWriter);
  std::set<std::string> ids;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    CHECK(seen[i].seq == static_cast<std::int64_t>(i + 1));  // in order, no gaps, no repeats
    ids.insert(seen[i].id);
  }
  CHECK(ids.size() == seen.size());
  CHECK(pages > 2);
}

TEST_CASE("outbox: enqueue validates, queues, NOTIFYs and honours ids and idempotency keys",
          "[store][pg][outbox]") {
  test::TestDatabase db;
  auto c = db.connect();
  auto listener = db.connect("listener");
  store::listen(listener, store::kOutboxChannel);
  store::add_account(c, "acme", std::nullopt);

  store::EnqueueRequest req{"acme", "15551234567@s.whatsapp.net", "hi ✓", std::nullopt, std::nullopt};
  const auto q = store::enqueue(c, req);
  CHECK(q.created);
  CHECK(q.message.status == "queued");
  CHECK(q.message.id.size() == 22);
  CHECK(q.message.id.rfind("3EB0", 0) == 0);
  CHECK(q.message.text == "hi ✓");
  CHECK(store::wait_for_notify(listener, std::chrono::seconds(5)));

  auto bad = [&](store::EnqueueRequest r) { CHECK_THROWS_AS(store::enqueue(c, r), store::InvalidMessage); };
  bad({"acme", "15551234567", "x", {}, {}});
  bad({"acme", "15551234567:2@s.whatsapp.net", "x", {}, {}});
  bad({"acme", "abc@s.whatsapp.net", "x", {}, {}});
  bad({"acme", "15551234567@example.com", "x", {}, {}});
  bad({"acme", "15551234567@s.whatsapp.net", "", {}, {}});
  bad({"acme", "15551234567@s.whatsapp.net", std::string(65537, 'a'), {}, {}});
  bad({"acme", "15551234567@s.whatsapp.net", "\xff\xfe", {}, {}});
  bad({"acme", "15551234567@s.whatsapp.net", "x", std::string("bad id!"), {}});
  CHECK_THROWS_AS(store::enqueue(c, {"nobody", "15551234567@s.whatsapp.net", "x", {}, {}}), store::NotFound);
  CHECK(count(c, "SELECT count(*) FROM wa_outbox") == 1);

  // The limit counts characters, not bytes: 65,536 three-byte characters fit.
  std::string long_text;
  for (int i = 0; i < 65536; ++i) long_text += "✓";
  CHECK(store::enqueue(c, {"acme", "120363012345678901@g.us", long_text, {}, {}}).created);

  CHECK(store::enqueue(c, {"acme", "15551234567@lid", "x", std::string("MYID1"), {}}).message.id == "MYID1");
  CHECK_THROWS_AS(store::enqueue(c, {"acme", "15551234567@lid", "y", std::string("MYID1"), {}}),
                  store::AlreadyExists);

  const auto k1 = store::enqueue(c, {"acme", "15551234567@lid", "z", {}, std::string("key-1")});
  const auto k2 = store::enqueue(c, {"acme", "15551234567@lid", "z", {}, std::string("key-1")});
  CHECK(k1.created);
  CHECK_FALSE(k2.created);
  CHECK(k2.message.id == k1.message.id);
  CHECK(k2.same_request);
  const auto k3 = store::enqueue(c, {"acme", "15551234567@lid", "other text", {}, std::string("key-1")});
  CHECK_FALSE(k3.created);
  CHECK_FALSE(k3.same_request);
  CHECK(k3.message.id == k1.message.id);
  CHECK(count(c, "SELECT count(*) FROM wa_outbox") == 4);
}

TEST_CASE(
    "outbox: competing claimers get each row once - a stale epoch claims nothing - failover resends the same "
    "id",
    "[store][pg][outbox]") {
  test::TestDatabase db;
  auto c = db.connect();
  store::add_account(c, "acme", std::nullopt);
  constexpr int kRows = 200;
  for (int i = 0; i < kRows; ++i)
    store::enqueue(c, {"acme", "15551234567@s.whatsapp.net", "m" + std::to_string(i), {}, {}});
  const auto e1 = store::begin_lease(c, "acme", "pod-a").epoch;
  store::WriteFence fence("acme", e1);

  std::vector<std::string> got[2];
  auto claimer = [&](int k) {
    auto conn = db.connect("claimer");
    for (;;) {
      const auto batch = store::claim_outbox(conn, fence, 3);
      if (batch.empty()) break;
      for (const auto& m : batch) {
        CHECK(m.claimed_epoch == std::optional<std::int64_t>(e1));
        got[k].push_back(m.id);
      }
    }
  };
  std::thread a(claimer, 0), b(claimer, 1);
  a.join();
  b.join();
  std::set<std::string> all(got[0].begin(), got[0].end());
  all.insert(got[1].begin(), got[1].end());
  CHECK(got[0].size() + got[1].size() == kRows);
  CHECK(all.size() == kRows);
  CHECK(store::claim_outbox(c, fence, 10).empty());  // this epoch has them all

  // A released row is claimed again by the same epoch.
  store::release_outbox(c, fence, got[0].front());
  const auto again = store::claim_outbox(c, fence, 10);
  REQUIRE(again.size() == 1);
  CHECK(again[0].id == got[0].front());
  CHECK(again[0].attempts == 2);

  // Half were sent; then the leader dies and another pod takes over.
  std::vector<std::string> ids(all.begin(), all.end());
  for (std::size_t i = 0; i < ids.size(); i += 2) CHECK(store::advance_outbox(c, fence, ids[i], "sent"));
  auto other = db.connect("pod b");
  const auto e2 = store::begin_lease(other, "acme", "pod-b").epoch;
  CHECK_THROWS_AS(store::claim_outbox(c, fence, 10), store::EpochMoved);
  CHECK_THROWS_AS(store::advance_outbox(c, fence, ids[1], "sent"), store::EpochMoved);
  store::WriteFence fence2("acme", e2);
  std::set<std::string> resent;
  for (;;) {
    const auto batch = store::claim_outbox(other, fence2, 50);
    if (batch.empty()) break;
    for (const auto& m : batch) resent.insert(m.id);
  }
  // Exactly the unsent rows, under their original ids.
  std::set<std::string> unsent;
  for (std::size_t i = 1; i < ids.size(); i += 2) unsent.insert(ids[i]);
  CHECK(resent == unsent);

  // A revoked fence is refused without the database.
  fence2.revoke();
  CHECK_THROWS_AS(store::claim_outbox(other, fence2, 1), store::EpochMoved);
}

TEST_CASE("outbox: status only moves forward - failed carries its reason", "[store][pg][outbox]") {
  test::TestDatabase db;
  auto c = db.connect();
  store::add_account(c, "acme", std::nullopt);
  const auto id = store::enqueue(c, {"acme", "15551234567@s.whatsapp.net", "x", {}, {}}).message.id;
  const auto id2 = store::enqueue(c, {"acme", "15551234567@s.whatsapp.net", "y", {}, {}}).message.id;
  store::WriteFence fence("acme", store::begin_lease(c, "acme", "pod-a").epoch);
  auto status = [&](const std::string& i) { return store::find_outbox(c, "acme", i)->status; };

  CHECK(store::advance_outbox(c, fence, id, "sent"));
  CHECK(status(id) == "sent");
  CHECK(store::advance_outbox(c, fence, id, "read"));  // a read receipt may come without a delivered one
  CHECK_FALSE(store::advance_outbox(c, fence, id, "delivered"));
  CHECK_FALSE(store::advance_outbox(c, fence, id, "sent"));
  CHECK_FALSE(store::advance_outbox(c, fence, id, "failed", std::string("late error")));
  CHECK(status(id) == "read");
  CHECK_THROWS_AS(store::advance_outbox(c, fence, id, "queued"), std::invalid_argument);

  CHECK(store::advance_outbox(c, fence, id2, "failed", std::string("recipient has no devices")));
  const auto f = store::find_outbox(c, "acme", id2);
  CHECK(f->status == "failed");
  CHECK(f->error == std::optional<std::string>("recipient has no devices"));
  CHECK_FALSE(store::advance_outbox(c, fence, id2, "delivered"));
  CHECK_FALSE(store::advance_outbox(c, fence, "NOSUCHID", "sent"));
  CHECK(status(id2) == "failed");
}

TEST_CASE("utf8: lengths count code points - invalid input is refused or repaired", "[store][utf8]") {
  CHECK(store::utf8_length("") == std::optional<std::size_t>(0));
  CHECK(store::utf8_length("aé✓😀") == std::optional<std::size_t>(4));
  CHECK_FALSE(store::utf8_length("\xc0\xaf"));          // overlong '/'
  CHECK_FALSE(store::utf8_length("\xed\xa0\x80"));      // a surrogate
  CHECK_FALSE(store::utf8_length("\xf4\x90\x80\x80"));  // above U+10FFFF
  CHECK_FALSE(store::utf8_length("\xe2\x9c"));          // truncated
  CHECK(store::repair_utf8("ok ✓") == "ok ✓");
  CHECK(store::repair_utf8(std::string("a\0b", 3)) ==
        "a\xEF\xBF\xBD"
        "b");
  CHECK(store::repair_utf8("\xff"
                           "x\xe2\x9c") ==
        "\xEF\xBF\xBD"
        "x\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(store::utf8_length(store::repair_utf8("\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80")));
}

TEST_CASE("inbox: text PostgreSQL would refuse is stored repaired, not failed", "[store][pg][inbox]") {
  test::TestDatabase db;
  auto c = db.connect();
  store::add_account(c, "acme", std::nullopt);
  auto m = text_message("BAD\xff", std::string("nul\0 and \xfe", 10));
  pg::Transaction tx(c, "insert");
  REQUIRE(store::insert_inbox(c, "acme", m));
  tx.commit();
  const auto got = store::find_inbox_by_hash(c, "acme", m.ciphertext_hash);
  REQUIRE(got);
  CHECK(got->id == "BAD\xEF\xBF\xBD");
  CHECK(got->text == std::optional<std::string>("nul\xEF\xBF\xBD and \xEF\xBF\xBD"));
}
