// Every table the migrations create has code behind it: a table nothing reads or writes is a
// schema nobody maintains (migration 0002's whatsmeow_* tables were exactly that).
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
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

// The production sources (tests, migrations and tools excluded).
std::vector<std::string> production_sources() {
  namespace fs = std::filesystem;
  std::vector<std::string> texts;
  for (const char* layer : {"common", "core", "store", "ha", "app"}) {
    const fs::path root = fs::path(source_dir()) / layer;
    REQUIRE(fs::is_directory(root));
    for (const auto& e : fs::recursive_directory_iterator(root)) {
      const auto ext = e.path().extension();
      if (!e.is_regular_file() || (ext != ".cpp" && ext != ".h")) continue;
      std::ifstream in(e.path());
      std::stringstream ss;
      ss << in.rdbuf();
      texts.push_back(ss.str());
    }
  }
  return texts;
}

}  // namespace

TEST_CASE("schema: every table a migration creates is read or written by production code", "[store][pg]") {
  test::TestDatabase db;
  auto c = db.connect();
  auto r = c.exec("test: list tables",
                  "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
                  " ORDER BY table_name");
  REQUIRE(r.rows() > 0);
  const auto sources = production_sources();
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
