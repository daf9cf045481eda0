// Runs the built `waconnector node` command.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/binary/node_json.h"
#include "tests/core_binary/test_util.h"

using namespace wa::binary;

namespace {

std::string bin_dir() {
  if (const char* d = std::getenv("WACONN_BIN_DIR"); d != nullptr && *d != '\0') return d;
  // Tests and waconnector share <build>/bin.
  return std::filesystem::read_symlink("/proc/self/exe").parent_path().string();
}

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

struct Result {
  int status = -1;
  std::string out;
};

Result run(const std::string& args, const std::string& stdin_text = "") {
  const std::string exe = bin_dir() + "/waconnector";
  REQUIRE(std::filesystem::exists(exe));
  const auto in_path = std::filesystem::temp_directory_path() / ("wa_node_cli_" + std::to_string(::getpid()));
  {
    std::ofstream f(in_path, std::ios::binary);
    f << stdin_text;
  }
  const std::string cmd = quote(exe) + " node " + args + " < " + quote(in_path.string()) + " 2>/dev/null";
  Result r;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 65536> buf{};
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int st = ::pclose(p);
  std::filesystem::remove(in_path);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace

TEST_CASE("node decode and encode reproduce every vector", "[binary][cli]") {
  for (const auto& v : test::vectors().items) {
    const Node expected = node_from_json(*v.find("node"));
    for (const auto& [dict, key] : {std::pair{"3", "hex_dict_v3"}, std::pair{"2", "hex_dict_v2"}}) {
      const std::string hex = v.find(key)->text;
      INFO(v.find("name")->text << " dict " << dict);
      const Result d = run(std::string("decode --dict ") + dict + " " + hex);
      REQUIRE(d.status == 0);
      CHECK(node_from_json_text(trim(d.out)) == expected);
      // Without the flag byte too.
      const Result d2 = run(std::string("decode --dict ") + dict + " " + hex.substr(2));
      REQUIRE(d2.status == 0);
      CHECK(trim(d2.out) == trim(d.out));
      const Result e = run(std::string("encode --dict ") + dict + " " + quote(node_to_json(expected)));
      REQUIRE(e.status == 0);
      CHECK(trim(e.out) == hex);
    }
  }
}

TEST_CASE("node --batch answers one line per input line, errors as JSON", "[binary][cli]") {
  const auto& vs = test::vectors().items;
  std::string in;
  for (const auto& v : vs) in += v.find("hex_dict_v3")->text + "\n";
  in += "00f8\n";
  in += "zz\n";
  const Result d = run("decode --batch", in);
  REQUIRE(d.status == 0);
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t nl; (nl = d.out.find('\n', start)) != std::string::npos; start = nl + 1)
    lines.push_back(d.out.substr(start, nl - start));
  REQUIRE(lines.size() == vs.size() + 2);
  for (std::size_t i = 0; i < vs.size(); ++i) CHECK(node_from_json_text(lines[i]) == node_from_json(*vs[i].find("node")));
  CHECK(parse_json(lines[vs.size()]).find("error") != nullptr);
  CHECK(parse_json(lines[vs.size() + 1]).find("error") != nullptr);

  std::string json_in;
  for (const auto& v : vs) json_in += node_to_json(node_from_json(*v.find("node"))) + "\n";
  json_in += "{\"tag\":}\n";
  const Result e = run("encode --batch --dict 2", json_in);
  REQUIRE(e.status == 0);
  std::string expected;
  for (const auto& v : vs) expected += v.find("hex_dict_v2")->text + "\n";
  CHECK(e.out.substr(0, expected.size()) == expected);
  CHECK(parse_json(trim(e.out.substr(expected.size()))).find("error") != nullptr);
}

TEST_CASE("node exit codes: 1 for bad input, 2 for bad usage", "[binary][cli]") {
  CHECK(run("decode 00f8").status == 1);
  CHECK(run("decode xyz").status == 1);
  CHECK(run("encode " + quote("{\"tag\":1}")).status == 1);
  CHECK(run("decode").status == 2);
  CHECK(run("decode --dict 4 00").status == 2);
  CHECK(run("frobnicate 00").status == 2);
  CHECK(run("").status == 2);
  CHECK(run("decode --batch extra").status == 2);
  const Result help = run("encode --help");
  CHECK(help.status == 0);
  CHECK_THAT(help.out, Catch::Contains("flag byte"));
}
