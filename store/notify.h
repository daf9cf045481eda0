// LISTEN/NOTIFY: every channel name the cluster uses, in one place, and the wait for a
// notification. The names are also written in SQL (the pair-code trigger of migration 0003), so
// changing one here needs a migration there; tests/store ties the two together.
#pragma once

#include <chrono>
#include <string_view>

#include "store/pg.h"

namespace wa::store {

// A leader that stopped acting for a lease says so here (payload: advisory_lock.h notice_payload());
// every pod's liveness session LISTENs: standbys poll at once, a holding new leader connects.
inline constexpr std::string_view kLeaderChannel = "waconnector_leader";
// A new pair-code request (payload: business_id): wakes the leaders' responders.
inline constexpr std::string_view kPairCodeRequestChannel = "wa_pair_code_request";
// A pair-code request changed state (payload: request id): wakes the waiting CLI.
inline constexpr std::string_view kPairCodeAnswerChannel = "wa_pair_code_answer";
// A message was queued in wa_outbox (payload: business_id; trigger of migration 0007): wakes the
// account's leader's sender.
inline constexpr std::string_view kOutboxChannel = "wa_outbox";
// A webhook delivery became due (payload: business_id; wa_emit_event() of migration 0009): wakes
// the account's leader's webhook sender.
inline constexpr std::string_view kWebhookChannel = "wa_webhook";
// An event was recorded (payload: business_id; trigger of migration 0012): wakes the pods' SSE
// streams (app/api/event_stream.h).
inline constexpr std::string_view kEventChannel = "wa_event";
// A log-out was requested (payload: business_id; trigger of migration 0012): wakes the leaders'
// logout responders (app/api/logout_responder.h).
inline constexpr std::string_view kLogoutChannel = "wa_logout";

// LISTEN `channel` on `conn` (the name is quoted as an identifier). Throws pg::Error.
void listen(pg::Connection& conn, std::string_view channel);

// Sends a NOTIFY on `channel` with `payload` (pg_notify, so both are parameters). Throws pg::Error.
void notify(pg::Connection& conn, std::string_view channel, std::string_view payload);

// Waits until a notification arrives on `conn` (which LISTENs), `wake_fd` (if >= 0) becomes
// readable, or `timeout` passes; drains the notifications that arrived. Returns true when one
// arrived. Throws pg::Error when the connection broke.
bool wait_for_notify(pg::Connection& conn, std::chrono::milliseconds timeout, int wake_fd = -1);

}  // namespace wa::store
