// What the client does about <stream:error> and <failure> (transport reference §7.5, §7.6),
// as a pure mapping so the table can be tested without a server.
#pragma once

#include <string>

#include "core/binary/node.h"
#include "core/connection.h"

namespace wa::client {

enum class Reaction {
  reconnect_now,      // 515: the expected restart after pairing (or the server asks for one)
  reconnect_backoff,  // 503 / 500: the service is busy; try again later
  give_up,            // logged out, replaced, forbidden, unknown: no automatic reconnect
};

struct Verdict {
  Reaction reaction = Reaction::give_up;
  core::DisconnectReason reason = core::DisconnectReason::error;
  std::string details;  // for logs and wa_accounts.disconnect_details
};

Verdict classify_stream_error(const binary::Node& node);
Verdict classify_failure(const binary::Node& node);

}  // namespace wa::client
