// waconnector messages send|status|list: the durable outbox and inbox from the command line.
// Output is JSON; bad input (unknown account, malformed JID, empty or over-long text, a taken id)
// is one line on stderr and exit 2, with nothing queued.
#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "app/api/json_writer.h"
#include "app/cli_database.h"
#include "app/commands.h"
#include "app/flags.h"
#include "app/inbox_json.h"
#include "store/accounts.h"
#include "store/inbox.h"
#include "store/outbox.h"
#include "store/pg.h"

namespace wa::app {

namespace {

constexpr const char* kMessagesUsage =
    "usage: waconnector messages SUBCOMMAND [flags]\n"
    "\n"
    "subcommands:\n"
    "  send     queue a text message (--business-id ID --to JID --text TEXT [--id ID])\n"
    "  status   show an outgoing message's status (--business-id ID --id ID)\n"
    "  list     print received messages, one JSON object per line (--business-id ID --json)\n"
    "\n"
    "Run 'waconnector messages SUBCOMMAND --help' for its flags.\n";

void require_account(pg::Connection& conn, const std::string& business_id) {
  if (!store::get_account(conn, business_id))
    throw ConfigError(fmt::format("business {} is not registered", business_id));
}

// Reads at most the largest valid text (4 bytes per character) plus one byte, so an over-long
// input is reported as such without reading it all.
std::string read_text_file(const std::string& path) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    file.open(path, std::ios::binary);
    if (!file) throw ConfigError(fmt::format("--text-file: cannot open {}", path));
    in = &file;
  }
  std::string text(store::kMaxTextChars * 4 + 1, '\0');
  in->read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in->gcount()));
  if (in->bad()) throw ConfigError(fmt::format("--text-file: cannot read {}", path));
  return text;
}

int messages_send(int argc, char** argv) {
  Flags f("waconnector messages send", "Queue a text message; the account's leader sends it.",
          {database_url_flag(),
           business_id_flag(),
           {"to", "", "recipient: user@s.whatsapp.net, user@lid or group@g.us", "", false, true},
           {"text", "", "the message text (1-65536 characters); or --text-file", ""},
           {"text-file", "",
            "read the text from this file ('-' = stdin): a long non-ASCII text exceeds one "
            "argument's size limit (128 KiB)",
            ""},
           {"id", "", "message id to use (default: a new 3EB0... id); the same id is kept on resends", ""}});
  if (!f.parse(argc, argv)) return 0;
  store::EnqueueRequest req;
  req.business_id = checked_business_id(f);
  req.recipient = f.str("to");
  auto text = f.get("text");
  if (const auto file = f.get("text-file")) {
    if (text) throw ConfigError("--text and --text-file are exclusive");
    text = read_text_file(*file);
  }
  if (!text) throw ConfigError("--text (or --text-file) is required");
  req.text = *text;
  req.id = f.get("id");
  // Input checks first: a bad message is refused before any database work.
  if (auto e = store::validate_recipient(req.recipient); !e.empty()) throw ConfigError("--to: " + e);
  if (auto e = store::validate_text(req.text); !e.empty()) throw ConfigError("--text: " + e);
  if (req.id)
    if (auto e = store::validate_message_id(*req.id); !e.empty()) throw ConfigError("--id: " + e);
  auto conn = open_database(f, "messages send", "messages");
  store::Enqueued q;
  try {
    q = store::enqueue(conn, req);
  } catch (const store::NotFound& e) {
    throw ConfigError(e.what());
  } catch (const store::AlreadyExists& e) {
    throw ConfigError(e.what());
  } catch (const store::InvalidMessage& e) {
    throw ConfigError(e.what());
  }
  std::cout << api::JsonObject().str("id", q.message.id).str("status", q.message.status).done() << "\n";
  return 0;
}

int messages_status(int argc, char** argv) {
  Flags f("waconnector messages status", "Show the status of a queued message.",
          {database_url_flag(), business_id_flag(), {"id", "", "the message id", "", false, true}});
  if (!f.parse(argc, argv)) return 0;
  const auto b = checked_business_id(f);
  const auto id = f.str("id");
  if (auto e = store::validate_message_id(id); !e.empty()) throw ConfigError("--id: " + e);
  auto conn = open_database(f, "messages status", "messages");
  require_account(conn, b);
  const auto m = store::find_outbox(conn, b, id);
  if (!m) throw ConfigError(fmt::format("no message {} for business {}", id, b));
  std::cout << api::JsonObject()
                   .str("id", m->id)
                   .str("status", m->status)
                   .str("to", m->recipient)
                   .opt_str("error", m->error)
                   .num("attempts", m->attempts)
                   .num("created_at_ms", m->created_at_ms)
                   .num("updated_at_ms", m->updated_at_ms)
                   .done()
            << "\n";
  return 0;
}

int messages_list(int argc, char** argv) {
  Flags f("waconnector messages list", "Print received messages in arrival order, one JSON object per line.",
          {database_url_flag(),
           business_id_flag(),
           {"json", "", "JSON lines output (the only format)", "", true},
           {"after", "", "print only messages after this sequence number (a cursor)", "0"},
           {"limit", "", "print at most this many messages (0 = all)", "0"}});
  if (!f.parse(argc, argv)) return 0;
  const auto b = checked_business_id(f);
  auto after = f.integer("after", 0, INT64_MAX);
  const auto limit = f.integer("limit", 0, INT64_MAX);
  auto conn = open_database(f, "messages list", "messages");
  require_account(conn, b);
  std::int64_t printed = 0;
  for (;;) {
    const int page = limit > 0 ? static_cast<int>(std::min<std::int64_t>(500, limit - printed)) : 500;
    if (page <= 0) break;
    const auto rows = store::list_inbox(conn, b, after, page);
    for (const auto& m : rows) {
      std::cout << inbox_message_json(m).num("seq", m.seq).done() << "\n";
      after = m.seq;
      ++printed;
    }
    if (static_cast<int>(rows.size()) < page) break;
  }
  std::cout.flush();
  return 0;
}

}  // namespace

int cmd_messages(int argc, char** argv) {
  return dispatch_subcommand("messages", kMessagesUsage, argc, argv,
                             {{"send", messages_send}, {"status", messages_status}, {"list", messages_list}});
}

}  // namespace wa::app
