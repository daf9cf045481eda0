// wasim's message-server state without a process: the pre-key upload's exact shape and limits,
// bundles consuming one-time keys, the state files reloading (and refusing corruption by file
// and line), groups.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <fstream>

#include "core/binary/jid.h"
#include "core/client/stanzas.h"
#include "sim/group_registry.h"
#include "sim/prekey_server.h"
#include "tests/sim/harness.h"

using wa::binary::Node;
using wa::binary::NodeList;
using wa::crypto::Bytes;
using wa::crypto::KeyPair;
using wa::simtest::TempDir;

namespace {

Node upload(std::uint32_t first_id, std::uint32_t n, const KeyPair& identity) {
  wa::client::DeviceKeys dk;
  dk.identity_key = identity;
  dk.registration_id = 0x01020304;
  dk.signed_pre_key.pair = KeyPair::generate();
  dk.signed_pre_key.signature = Bytes(64, 9);
  std::vector<wa::client::PreKey> keys;
  for (std::uint32_t i = 0; i < n; ++i) keys.push_back({first_id + i, KeyPair::generate(), false});
  return wa::client::pre_key_upload("u", dk, keys);
}

}  // namespace

TEST_CASE("pre-key uploads: exact shape, limits, bundles consume one key each, reload",
          "[sim][state][messages]") {
  TempDir dir;
  const auto id = KeyPair::generate();
  const wa::sim::PreKeyServer::DeviceKey d{15550001, 2};
  const auto jid = *wa::binary::Jid::parse("15550001:2@s.whatsapp.net");
  {
    wa::sim::PreKeyServer keys(dir.path());
    CHECK_FALSE(keys.take_bundle(d, jid));
    keys.upload(d, upload(1, 3, id));
    keys.upload(d, upload(4, 2, id));  // same identity: added
    CHECK(keys.count(d) == 5);
    CHECK_THROWS_AS(keys.upload(d, upload(100, 2001, id)), wa::sim::UploadError);  // > 2000 in one upload
    CHECK(keys.count(d) == 5);
    Node bad = upload(1, 1, id);
    std::get<NodeList>(bad.content)[1] = Node{"type", {}, Bytes{6}};
    CHECK_THROWS_AS(keys.upload(d, bad), wa::sim::UploadError);
    Node short_sig = upload(1, 1, id);
    std::get<NodeList>(std::get<NodeList>(short_sig.content)[4].content)[2] =
        Node{"signature", {}, Bytes(63, 0)};
    CHECK_THROWS_AS(keys.upload(d, short_sig), wa::sim::UploadError);
    auto b = keys.take_bundle(d, jid);
    REQUIRE(b);
    REQUIRE(b->child("key"));
    CHECK(*b->child("key")->child("id")->bytes() == Bytes{0, 0, 1});
    CHECK(*b->child("registration")->bytes() == Bytes{1, 2, 3, 4});
    CHECK(keys.count(d) == 4);
  }
  struct stat st {};
  REQUIRE(::stat((dir.path() / "prekeys.tsv").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  wa::sim::PreKeyServer again(dir.path());
  CHECK(again.count(d) == 4);
  CHECK(again.find(d)->identity == id.pub);
  auto b = again.take_bundle(d, jid);
  CHECK(*b->child("key")->child("id")->bytes() == Bytes{0, 0, 2});
  // A new identity (the device was linked anew) drops the old one-time keys.
  again.upload(d, upload(50, 1, KeyPair::generate()));
  CHECK(again.count(d) == 1);

  std::ofstream(dir.path() / "prekeys.tsv")
      << "# h\n1\t2\t3\tzz\t1\t" << std::string(64, 'a') << "\t" << std::string(128, 'b') << "\t\n";
  CHECK_THROWS_WITH(wa::sim::PreKeyServer(dir.path()), Catch::Contains("prekeys.tsv:2"));
}

TEST_CASE("registration keys: a linked device has a bundle before its first upload, the upload wins",
          "[sim][state][messages]") {
  TempDir dir;
  const auto id = KeyPair::generate();
  const wa::sim::PreKeyServer::DeviceKey d{15550001, 3};
  const auto jid = *wa::binary::Jid::parse("15550001:3@s.whatsapp.net");
  wa::sim::DeviceKeys reg;
  reg.registration_id = 77;
  reg.identity = id.pub;
  reg.signed_pre_key_id = 1;
  reg.signed_pre_key = KeyPair::generate().pub;
  reg.signature = Bytes(64, 5);
  wa::sim::PreKeyServer keys(dir.path());
  keys.register_device(d, reg);
  auto b = keys.take_bundle(d, jid);
  REQUIRE(b);
  CHECK(b->child("key") == nullptr);  // no one-time key yet: X3DH without one
  CHECK(*b->child("registration")->bytes() == Bytes{0, 0, 0, 77});
  keys.upload(d, upload(1, 2, id));
  CHECK(keys.count(d) == 2);
  keys.register_device(d, reg);  // the same identity again (a replayed link): the upload stays
  CHECK(keys.count(d) == 2);
  CHECK(keys.find(d)->registration_id == 0x01020304);
  reg.identity = KeyPair::generate().pub;  // re-linked with a new identity: the old keys go
  keys.register_device(d, reg);
  CHECK(keys.count(d) == 0);
  CHECK(keys.find(d)->identity == reg.identity);
  reg.signature = Bytes(63, 0);
  CHECK_THROWS_AS(keys.register_device(d, reg), wa::sim::UploadError);
  wa::sim::PreKeyServer again(dir.path());  // persisted without one-time keys
  CHECK(again.find(d)->identity == keys.find(d)->identity);
}

TEST_CASE("groups: create rules, ids, persistence", "[sim][state][groups]") {
  TempDir dir;
  std::string id;
  {
    wa::sim::GroupRegistry g(dir.path());
    CHECK_THROWS_AS(g.create("", {1}), std::invalid_argument);
    CHECK_THROWS_AS(g.create("a\tb", {1}), std::invalid_argument);
    CHECK_THROWS_AS(g.create("x", {}), std::invalid_argument);
    CHECK_THROWS_AS(g.create(std::string(101, 'x'), {1}), std::invalid_argument);
    auto rec = g.create("team", {15550001, 15550002, 15550001});
    CHECK(rec.members == std::vector<std::uint64_t>{15550001, 15550002});
    CHECK(rec.creator == 15550001);
    CHECK(rec.id.rfind("120363", 0) == 0);
    CHECK(rec.jid() == rec.id + "@g.us");
    CHECK(g.create("team", {15550001}).id != rec.id);
    id = rec.id;
  }
  wa::sim::GroupRegistry again(dir.path());
  auto rec = again.find(id);
  REQUIRE(rec);
  CHECK(rec->subject == "team");
  CHECK(rec->members.size() == 2);
  CHECK_FALSE(again.find("123"));
  std::ofstream(dir.path() / "groups.tsv") << "# h\n120363x\tteam\t0\t1\t1\n";
  CHECK_THROWS_WITH(wa::sim::GroupRegistry(dir.path()), Catch::Contains("groups.tsv:2"));
}
