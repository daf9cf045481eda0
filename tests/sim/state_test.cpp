#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <fstream>

#include "sim/connection_log.h"
#include "sim/device_registry.h"
#include "sim/root_key_store.h"
#include "tests/sim/harness.h"

using wa::simtest::file_text;
using wa::simtest::TempDir;

TEST_CASE("the device registry persists to the state dir with mode 0600", "[sim][state]") {
  TempDir dir;
  const std::string k1(64, 'a'), k2(64, 'b');
  {
    wa::sim::DeviceRegistry reg(dir.path());
    CHECK_FALSE(reg.find(15551234567ull, 3));
    reg.put({15551234567ull, 3, k1, k2, 1700000000000});
    reg.put({15551234567ull, 4, k2, k1, 1700000000001});
    CHECK(reg.remove(15551234567ull, 4));
    CHECK_FALSE(reg.remove(15551234567ull, 4));
    CHECK_THROWS_AS(reg.put({1, 1, "not hex", k2, 0}), std::invalid_argument);
  }
  struct stat st{};
  REQUIRE(::stat((dir.path() / "devices.tsv").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  wa::sim::DeviceRegistry again(dir.path());
  auto d = again.find(15551234567ull, 3);
  REQUIRE(d);
  CHECK(d->noise_pub_hex == k1);
  CHECK(d->identity_pub_hex == k2);
  CHECK(d->added_ms == 1700000000000);
  CHECK_FALSE(again.find(15551234567ull, 4));
  CHECK(again.all().size() == 1);
}

namespace {

std::size_t lines_of(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

ino_t inode_of(const std::filesystem::path& p) {
  struct stat st{};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_ino;
}

}  // namespace

// A registry change appends one line (a rewrite per change made pairing thousands of devices
// quadratic: prekeys.tsv holds 812 keys per device); the log is folded at start-up, a torn last
// line is dropped, and the file is compacted once it outgrows its snapshot.
TEST_CASE("registry files log each change as one appended line and fold the log on reload", "[sim][state]") {
  TempDir dir;
  const auto file = dir.path() / "devices.tsv";
  const std::string k1(64, 'a'), k2(64, 'b');
  {
    wa::sim::DeviceRegistry reg(dir.path());
    reg.put({15550001, 1, k1, k2, 1});  // the first change writes the snapshot
    const auto ino = inode_of(file);
    const auto before = lines_of(file_text(file));
    reg.put({15550001, 2, k1, k2, 2});
    reg.put({15550001, 1, k2, k1, 3});  // changed
    CHECK(reg.remove(15550001, 2));
    CHECK(inode_of(file) == ino);  // appended, not rewritten (a rewrite renames a new file in)
    const auto text = file_text(file);
    CHECK(lines_of(text) == before + 3);
    CHECK(text.find("\n-\t15550001\t2\t") != std::string::npos);
    // A torn append (killed mid-write) at the end.
    std::ofstream(file, std::ios::app) << "15550001\t3\t" << k1;
  }
  {
    wa::sim::DeviceRegistry again(dir.path());
    REQUIRE(again.all().size() == 1);
    CHECK(again.find(15550001, 1)->noise_pub_hex == k2);
    CHECK(again.find(15550001, 1)->added_ms == 3);
    CHECK_FALSE(again.find(15550001, 2));
    CHECK_FALSE(again.find(15550001, 3));
    const auto text = file_text(file);
    CHECK(lines_of(text) == 2);  // folded: the header and the one device
    CHECK(text.back() == '\n');
    // Many changes to one record: the file stays bounded (compacted), and the last one wins.
    for (int i = 0; i < 40000; ++i) again.put({15550001, 1, k1, k2, i});
    CHECK(std::filesystem::file_size(file) < 10u * 1024 * 1024);
    CHECK(lines_of(file_text(file)) < 40000);
  }
  wa::sim::DeviceRegistry third(dir.path());
  CHECK(third.find(15550001, 1)->added_ms == 39999);
  CHECK(third.all().size() == 1);
}

TEST_CASE("a corrupt registry file is an error naming file and line", "[sim][state]") {
  TempDir dir;
  for (const std::string& bad : {std::string("1\t2\n"), "x\t1\t" + std::string(64, 'a') + "\t" + std::string(64, 'a') + "\t0\n",
                                "1\t70000\t" + std::string(64, 'a') + "\t" + std::string(64, 'a') + "\t0\n",
                                "1\t1\tzz\t" + std::string(64, 'a') + "\t0\n"}) {
    std::ofstream(dir.path() / "devices.tsv") << "# header\n" << bad;
    CHECK_THROWS_WITH(wa::sim::DeviceRegistry(dir.path()), Catch::Contains("devices.tsv:2"));
  }
}

TEST_CASE("the root key is created once and reloaded", "[sim][state]") {
  TempDir dir;
  auto state = dir.path() / "nested" / "state";
  auto a = wa::sim::load_or_create_root_key(state);
  auto b = wa::sim::load_or_create_root_key(state);
  CHECK(a.pub == b.pub);
  CHECK(a.priv == b.priv);
  std::ofstream(state / "root-key") << "not a key\n";
  CHECK_THROWS_WITH(wa::sim::load_or_create_root_key(state), Catch::Contains("root-key"));
}

TEST_CASE("the connection log is bounded even with a long-lived connection", "[sim][state]") {
  wa::sim::ConnectionLog log(3);
  auto first = log.open("a");  // stays open throughout
  for (int i = 0; i < 10; ++i) log.close(log.open("b"), "done");
  auto json = log.connections_json();
  CHECK(json.find("\"id\":" + std::to_string(first) + ",") != std::string::npos);
  std::size_t n = 0;
  for (auto p = json.find("\"id\":"); p != std::string::npos; p = json.find("\"id\":", p + 1)) ++n;
  CHECK(n == 3);
  CHECK(log.open_count() == 1);
  log.count_error("frame");
  log.count_error("frame");
  CHECK(log.counters_json().find("\"frame\":2") != std::string::npos);
}
