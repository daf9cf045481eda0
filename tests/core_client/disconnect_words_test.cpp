// The disconnect-reason words live in three places that must agree: core's enum (to_string),
// the store's list it validates writes with (store/accounts.h, read as text: core's tests do not
// build against libpq), and the schema's CHECK constraint.
#include <catch2/catch.hpp>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "core/connection.h"

namespace {

std::string read_source(const std::string& rel) {
  std::ifstream in(std::string(WACONN_SOURCE_ROOT) + "/" + rel);
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The quoted words in the first match of `list_re`'s group 1 within the file `rel`.
std::set<std::string> words_in(const std::string& rel, const std::string& list_re, const std::string& quote) {
  const std::string text = read_source(rel);
  std::smatch m;
  REQUIRE(std::regex_search(text, m, std::regex(list_re)));
  std::set<std::string> words;
  const std::string list = m[1];
  const std::regex word(quote + "([a-z_]+)" + quote);
  for (auto it = std::sregex_iterator(list.begin(), list.end(), word); it != std::sregex_iterator(); ++it) {
    words.insert((*it)[1]);
  }
  return words;
}

}  // namespace

TEST_CASE("disconnect-reason words: core enum, store list and schema CHECK are the same set",
          "[client][contract]") {
  std::set<std::string> core_words;
  for (auto r : wa::core::kAllDisconnectReasons) core_words.insert(wa::core::to_string(r));
  CHECK(core_words.size() == std::size(wa::core::kAllDisconnectReasons));  // no two reasons share a word
  CHECK(core_words.count("unknown") == 1);
  // The last enumerator is `unknown`: an enumerator added after it would be missing from the list.
  CHECK(static_cast<int>(wa::core::DisconnectReason::unknown) + 1 ==
        static_cast<int>(std::size(wa::core::kAllDisconnectReasons)));

  CHECK(words_in("store/accounts.h", R"(kDisconnectReasons\[\]\s*=\s*\{([^}]*)\})", "\"") == core_words);
  CHECK(words_in("store/migrations/0001_account_registry.sql",
                 R"(CHECK \(disconnect_reason IN \(([^)]*)\)\))", "'") == core_words);
}
