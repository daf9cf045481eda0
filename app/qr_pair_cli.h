// waconnector accounts pair: pairing from a terminal, through PostgreSQL only (the CLI never talks
// to WhatsApp; the account's leader does).
//   --business-id ID            prints the QR the leader publishes (wa_accounts.qr_code) as UTF-8
//                               half blocks and redraws it on every rotation, until the account is
//                               paired (jid set, status authenticated/connected) or --timeout.
//   --business-id ID --phone N  waits until the leader is connected for pairing (it publishes a
//                               QR), inserts a pair-code request (wa_pair_code_requests); the leader
//                               asks the server for a linking code and answers; the CLI prints
//                               the 8-character code (XXXX-XXXX), then waits for the pairing.
//   --relink                    a logged-out account is made pairable again first (its jid and
//                               device keys are dropped, so the leader pairs a fresh device).
// Exit codes: 0 paired, 1 not paired (timeout, request failed, database error), 2 bad usage.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace wa::app {

int accounts_pair(int argc, char** argv);

// "+1 (555) 000-1234" -> "15550001234": wa::phone_digits (common/phone.h), the rule core and
// wasim use too; the reason goes to `error` (and nullopt) when it refuses.
std::optional<std::string> pair_phone_digits_for_request(std::string_view phone, std::string& error);

// "ABCDEFGH" -> "ABCD-EFGH" (other lengths unchanged).
std::string format_pair_code(std::string_view code);

}  // namespace wa::app
