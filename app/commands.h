// The waconnector subcommands. Each returns the process exit code: 0 success, 1 failure,
// 2 bad configuration or usage.
#pragma once

#include <initializer_list>
#include <iostream>
#include <string_view>

namespace wa::app {

// A command with subcommands (accounts, messages): no argument or --help prints the usage (exit 2
// without an argument, 0 for --help); an unknown name prints it to stderr with exit 2.
struct Subcommand {
  std::string_view name;
  int (*run)(int argc, char** argv);
};

inline int dispatch_subcommand(std::string_view command, std::string_view usage, int argc, char** argv,
                               std::initializer_list<Subcommand> subs) {
  if (argc < 1 || std::string_view(argv[0]) == "--help" || std::string_view(argv[0]) == "-h") {
    std::cout << usage;
    return argc < 1 ? 2 : 0;
  }
  const std::string_view sub = argv[0];
  for (const auto& s : subs)
    if (s.name == sub) return s.run(argc - 1, argv + 1);
  std::cerr << "waconnector: unknown " << command << " subcommand '" << sub << "'\n" << usage;
  return 2;
}

int cmd_migrate(int argc, char** argv);   // waconnector migrate ...
int cmd_accounts(int argc, char** argv);  // waconnector accounts add|list|pair ...
int cmd_run(int argc, char** argv);       // waconnector run ...
int cmd_node(int argc, char** argv);      // waconnector node decode|encode ...
int cmd_messages(int argc, char** argv);  // waconnector messages send|status|list ...
int cmd_tokens(int argc, char** argv);    // waconnector tokens create|list|revoke ...
int cmd_keys(int argc, char** argv);      // waconnector keys generate|status|rotate|seal

}  // namespace wa::app
