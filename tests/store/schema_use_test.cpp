// Every table the migrations create has code behind it: a table nothing reads or writes is a
// schema nobody maintains (migration 0002's whatsmeow_* tables were exactly that).
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/store/test_db.h"

using namespace wa;

namespace {

std::string source_dir() {
  if (const char* d = std::getenv("WACONN_SOURCE_DIR"); d && *d) return d;
  return WACONN_DEFAULT_SOURCE_DIR;
}

// The code of store/ (where every statement lives), without its comments: a table named only
// in a comment has no code behind it.
std::vector<std::string> store_code() {
  namespace fs = std::filesystem;
  std::vector<std::string> texts;
  const fs::path root = fs::path(source_dir()) / "store";
  REQUIRE(fs::is_directory(root));
  for (const auto& e : fs::directory_iterator(root)) {
    if (!e.is_regular_file() || e.path().extension() != ".cpp") continue;
    std::ifstream in(e.path());
    std::string code, line;
    while (std::getline(in, line)) {
      if (const auto c = line.find("//"); c != std::string::npos) line.erase(c);
      code += line + "\n";
    }
    texts.push_back(std::move(code));
  }
  return texts;
}

}  // namespace

TEST_CASE("schema: every table a migration creates is read or written by the store's code", "[store][pg]") {
  test::TestDatabase db;
  auto c = db.connect();
  auto r = c.exec("test: list tables",
                  "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
                  " ORDER BY table_name");
  REQUIRE(r.rows() > 0);
  const auto sources = store_code();
  REQUIRE_FALSE(sources.empty());
  for (int i = 0; i < r.rows(); ++i) {
    const std::string table(r.text(i, 0));
    INFO("table " << table);
    bool used = false;
    for (const auto& s : sources) {
      // A whole identifier: "wa_devices" must not count as a use of "wa_device".
      for (auto at = s.find(table); at != std::string::npos && !used; at = s.find(table, at + 1)) {
        const auto end = at + table.size();
        auto ident = [](char ch) {
          return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
        };
        used = (at == 0 || !ident(s[at - 1])) && (end == s.size() || !ident(s[end]));
      }
      if (used) break;
    }
    CHECK(used);
  }
  CHECK(c.exec("test: no whatsmeow tables",
               "SELECT count(*) FROM information_schema.tables"
               " WHERE table_schema = current_schema() AND table_name LIKE 'whatsmeow%'")
            .text(0, 0) == "0");
}
