// An inbox message as JSON, one shape for the REST API (GET /v1/accounts/{id}/messages) and
// `waconnector messages list`: id, chat, from (the sender's user JID), type, text, timestamp.
#pragma once

#include "app/api/json_writer.h"
#include "store/inbox.h"

namespace wa::app {

// The fields above, in that order; the caller appends its cursor field and calls done().
api::JsonObject inbox_message_json(const store::InboxMessage& m);

}  // namespace wa::app
