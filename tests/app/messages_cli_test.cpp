// `waconnector messages send|status|list` run as the real binary (arguments passed with execv, so any
// text reaches it unquoted). Needs WACONN_TEST_DATABASE_URL.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "core/binary/json.h"
#include "store/accounts.h"
#include "store/inbox.h"
#include "store/outbox.h"
#include "tests/store/test_db.h"

extern char** environ;

using namespace wa;

namespace {

std::string binary() {
  if (const char* d = std::getenv("WACONN_BIN_DIR"); d != nullptr && *d != '\0')
    return (std::filesystem::path(d) / "waconnector").string();
  return (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "waconnector").string();
}

struct Run {
  int code = -1;
  std::string out;
  std::string err;
};

std::string slurp(int fd) {
  std::string s;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<std::size_t>(n));
  close(fd);
  return s;
}

// Runs waconnector with `args`; stdout and stderr apart (stderr read after stdout: our outputs are small
// except stdout, so no pipe deadlock).
Run run(std::vector<std::string> args) {
  const auto bin = binary();
  REQUIRE(std::filesystem::exists(bin));
  args.insert(args.begin(), bin);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int out[2], err[2];
  REQUIRE(pipe(out) == 0);
  REQUIRE(pipe(err) == 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  posix_spawn_file_actions_addclose(&fa, err[0]);
  setenv("WACONN_LOG_LEVEL", "error", 1);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, bin.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  close(err[1]);
  REQUIRE(rc == 0);
  Run r;
  r.out = slurp(out[0]);
  r.err = slurp(err[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::int64_t outbox_rows(pg::Connection& c) {
  return c.exec("count", "SELECT count(*) FROM wa_outbox").i64(0, 0);
}

std::string field(const binary::Json& j, const char* key) {
  const auto* v = j.find(key);
  REQUIRE(v != nullptr);
  return v->text;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

}  // namespace

TEST_CASE("messages send queues and status reports it - bad input exits 2 with one line and queues nothing",
          "[app][cli][messages]") {
  test::TestDatabase db;
  auto c = db.connect();
  store::add_account(c, "acme", std::nullopt);
  const std::vector<std::string> base = {"--database-url", db.url(), "--business-id", "acme"};
  auto with = [&](std::string sub, std::vector<std::string> more) {
    std::vector<std::string> a = {"messages", std::move(sub)};
    a.insert(a.end(), base.begin(), base.end());
    a.insert(a.end(), more.begin(), more.end());
    return a;
  };

  const std::string text = "héllo \"wörld\" ✓ 😀\n\ttab \x01 end\\";
  auto sent = run(with("send", {"--to", "15551234567@s.whatsapp.net", "--text", text}));
  REQUIRE(sent.code == 0);
  const auto j = binary::parse_json(sent.out);
  const auto id = field(j, "id");
  CHECK(id.rfind("3EB0", 0) == 0);
  CHECK(field(j, "status") == "queued");
  const auto stored = store::find_outbox(c, "acme", id);
  REQUIRE(stored);
  CHECK(stored->text == text);  // the text arrives byte for byte
  CHECK(stored->recipient == "15551234567@s.whatsapp.net");

  auto mine = run(with("send", {"--to", "120363012345678901@g.us", "--text", "group", "--id", "CALLER1"}));
  REQUIRE(mine.code == 0);
  CHECK(field(binary::parse_json(mine.out), "id") == "CALLER1");

  auto st = run(with("status", {"--id", "CALLER1"}));
  REQUIRE(st.code == 0);
  const auto sj = binary::parse_json(st.out);
  CHECK(field(sj, "id") == "CALLER1");
  CHECK(field(sj, "status") == "queued");
  CHECK(field(sj, "to") == "120363012345678901@g.us");
  // The status follows the leader's progress.
  store::WriteFence fence("acme", store::begin_lease(c, "acme", "pod-a").epoch);
  REQUIRE(store::advance_outbox(c, fence, "CALLER1", "delivered"));
  CHECK(field(binary::parse_json(run(with("status", {"--id", "CALLER1"})).out), "status") == "delivered");

  const auto before = outbox_rows(c);
  REQUIRE(before == 2);
  std::string too_long(65537, 'a');
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
      {{"messages", "send", "--database-url", db.url(), "--business-id", "nobody", "--to",
        "15551234567@s.whatsapp.net", "--text", "x"},
       "business nobody is not registered"},
      {with("send", {"--to", "15551234567", "--text", "x"}), "--to"},
      {with("send", {"--to", "1555:1@s.whatsapp.net", "--text", "x"}), "--to"},
      {with("send", {"--to", "15551234567@example.org", "--text", "x"}), "--to"},
      {with("send", {"--to", "15551234567@s.whatsapp.net", "--text", ""}), "text is empty"},
      {with("send", {"--to", "15551234567@s.whatsapp.net", "--text", too_long}), "the limit is 65536"},
      {with("send", {"--to", "15551234567@s.whatsapp.net"}), "--text (or --text-file) is required"},
      {with("send", {"--text", "x"}), "--to"},
      {with("send", {"--to", "15551234567@s.whatsapp.net", "--text", "x", "--id", "CALLER1"}),
       "already exists"},
      {with("send", {"--to", "15551234567@s.whatsapp.net", "--text", "x", "--id", "a b"}), "--id"},
      {{"messages", "send", "--database-url", db.url(), "--business-id", "bad id!", "--to",
        "15551234567@s.whatsapp.net", "--text", "x"},
       "--business-id"},
      {with("status", {"--id", "NOSUCH"}), "no message NOSUCH"},
      {{"messages", "status", "--database-url", db.url(), "--business-id", "nobody", "--id", "X"},
       "not registered"},
      {{"messages", "list", "--database-url", db.url(), "--business-id", "nobody", "--json"},
       "not registered"},
      {{"messages", "bogus"}, "unknown messages subcommand"},
  };
  for (const auto& [args, msg] : bad) {
    INFO(args[1] << " " << msg);
    const auto r = run(args);
    CHECK(r.code == 2);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Catch::Contains(msg));
    if (args[1] != "bogus") CHECK(lines(r.err).size() == 1);
  }
  CHECK(outbox_rows(c) == before);
  // 65,536 characters is allowed (the limit counts characters: 3-byte ones here). That is more than
  // one argument may carry, hence --text-file.
  std::string max_text;
  for (int i = 0; i < 65536; ++i) max_text += "✓";
  const auto path = std::filesystem::temp_directory_path() / ("wa-msg-" + db.name() + ".txt");
  auto write_file = [&](const std::string& t) { std::ofstream(path, std::ios::binary) << t; };
  write_file(max_text + "✓");
  auto over = run(with("send", {"--to", "15551234567@lid", "--text-file", path.string()}));
  CHECK(over.code == 2);
  CHECK_THAT(over.err, Catch::Contains("65537 characters"));
  CHECK(run(with("send", {"--to", "15551234567@lid", "--text-file", path.string(), "--text", "x"})).code ==
        2);
  CHECK(run(with("send", {"--to", "15551234567@lid", "--text-file", "/nonexistent/x"})).code == 2);
  CHECK(outbox_rows(c) == before);
  write_file(max_text);
  const auto ok = run(with("send", {"--to", "15551234567@lid", "--text-file", path.string()}));
  CHECK(ok.code == 0);
  std::filesystem::remove(path);
  CHECK(outbox_rows(c) == before + 1);
  const auto big = store::find_outbox(c, "acme", field(binary::parse_json(ok.out), "id"));
  REQUIRE(big);
  CHECK(big->text == max_text);
}

TEST_CASE("messages list prints one JSON object per inbox message, text escaped", "[app][cli][messages]") {
  test::TestDatabase db;
  auto c = db.connect();
  store::add_account(c, "acme", std::nullopt);
  const std::string tricky =
      std::string("quote\" back\\ nl\n cr\r tab\t bell\x07 nul-free \x1f ünï 😀 ") + "\xe2\x80\xa8";
  struct In {
    std::string id, chat, sender, text;
  };
  const std::vector<In> ins = {
      {"M1", "15550001111@s.whatsapp.net", "15550001111:7@s.whatsapp.net", tricky},
      {"M2", "120363000000000001@g.us", "15550002222:2@s.whatsapp.net", "group hello"},
      {"M3", "15550003333@lid", "15550003333@lid", "plain"},
  };
  for (std::size_t i = 0; i < ins.size(); ++i) {
    store::InboxMessage m;
    m.id = ins[i].id;
    m.chat = ins[i].chat;
    m.sender = ins[i].sender;
    m.text = ins[i].text;
    m.server_ts = 1790000000 + static_cast<std::int64_t>(i);
    m.ciphertext_hash =
        store::ciphertext_hash(reinterpret_cast<const std::uint8_t*>(m.id.data()), m.id.size());
    pg::Transaction tx(c, "insert");
    REQUIRE(store::insert_inbox(c, "acme", m));
    tx.commit();
  }
  const auto r = run({"messages", "list", "--database-url", db.url(), "--business-id", "acme", "--json"});
  REQUIRE(r.code == 0);
  const auto ls = lines(r.out);
  REQUIRE(ls.size() == ins.size());  // the newline in the text did not split a line
  const char* froms[] = {"15550001111@s.whatsapp.net", "15550002222@s.whatsapp.net", "15550003333@lid"};
  for (std::size_t i = 0; i < ins.size(); ++i) {
    const auto j = binary::parse_json(ls[i]);
    CHECK(field(j, "id") == ins[i].id);
    CHECK(field(j, "chat") == ins[i].chat);
    CHECK(field(j, "from") == froms[i]);
    CHECK(field(j, "text") == ins[i].text);
    CHECK(field(j, "timestamp") == std::to_string(1790000000 + i));
  }
  CHECK_THAT(ls[0], Catch::Contains("\\u0007") && Catch::Contains("\\u001f") && Catch::Contains("\\n") &&
                        Catch::Contains("\\\"") && Catch::Contains("\\\\"));

  // --after is a cursor.
  const auto tail = run({"messages", "list", "--database-url", db.url(), "--business-id", "acme", "--json",
                         "--after", field(binary::parse_json(ls[0]), "seq")});
  REQUIRE(tail.code == 0);
  CHECK(lines(tail.out).size() == 2);
  const auto one = run(
      {"messages", "list", "--database-url", db.url(), "--business-id", "acme", "--json", "--limit", "1"});
  CHECK(lines(one.out).size() == 1);
}
