// waconnector: a high-availability connector for WhatsApp Web multi-device accounts.
#include <cstring>
#include <exception>
#include <iostream>
#include <string_view>

#include "app/commands.h"
#include "app/config_check.h"
#include "app/flags.h"

namespace {

constexpr const char* kUsage =
    "usage: waconnector COMMAND [flags]\n"
    "\n"
    "commands:\n"
    "  run              compete for accounts and run the WhatsApp connection of each one this pod leads\n"
    "  migrate          apply the database migrations (safe to run from many pods at once)\n"
    "  accounts add     register an account (business id, optional jid)\n"
    "  accounts list    list the registered accounts\n"
    "  accounts pair    pair an account: QR in the terminal, or --phone for a pair code\n"
    "  accounts rekey   recompute every lock key for a new --lock-keys mode (all pods stopped)\n"
    "  messages send    queue a text message for an account's leader to send\n"
    "  messages status  show an outgoing message's status\n"
    "  messages list    print the received messages as JSON lines\n"
    "  tokens create    create an API bearer token for a business (printed once)\n"
    "  tokens list      list API tokens; tokens revoke: revoke one\n"
    "  keys             key-encryption keys of the sealed key material: generate, status, rotate, seal\n"
    "  node decode      decode a binary node (hex) to JSON\n"
    "  node encode      encode a JSON node to hex\n"
    "  version          print the version\n"
    "\n"
    "Run 'waconnector COMMAND --help' for the flags of a command.\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h" ||
      std::string_view(argv[1]) == "help") {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  const std::string_view cmd = argv[1];
  try {
    if (cmd == "run") return wa::app::cmd_run(argc - 2, argv + 2);
    if (cmd == "migrate") return wa::app::cmd_migrate(argc - 2, argv + 2);
    if (cmd == "accounts") return wa::app::cmd_accounts(argc - 2, argv + 2);
    if (cmd == "messages") return wa::app::cmd_messages(argc - 2, argv + 2);
    if (cmd == "tokens") return wa::app::cmd_tokens(argc - 2, argv + 2);
    if (cmd == "keys") return wa::app::cmd_keys(argc - 2, argv + 2);
    if (cmd == "node") return wa::app::cmd_node(argc - 2, argv + 2);
    if (cmd == "version" || cmd == "--version") {
      std::cout << "waconnector " << WACONN_VERSION << "\n";
      return 0;
    }
    std::cerr << "waconnector: unknown command '" << cmd << "'\n" << kUsage;
    return 2;
  } catch (const wa::app::ConfigError& e) {
    std::cerr << "waconnector: " << wa::app::redact_secrets(e.what()) << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "waconnector: " << wa::app::redact_secrets(e.what()) << "\n";
    return 1;
  }
}
