// Placeholder until the owning work item lands; refuses clearly instead of pretending.
#include <iostream>

#include "app/commands.h"

namespace wa::app {

int cmd_node(int, char**) {
  std::cerr << "waconnector: 'node' is not built yet\n";
  return 1;
}

}  // namespace wa::app
