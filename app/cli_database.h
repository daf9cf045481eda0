// The flags and the database session the admin subcommands (accounts, messages, migrate, tokens)
// share, so each checks --database-url, --business-id and --lock-keys the same way and connects
// under the same application_name scheme. Errors in the flags are ConfigError (exit 2).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "app/flags.h"
#include "store/accounts.h"
#include "store/pg.h"

namespace wa::app {

FlagSpec database_url_flag();
// --business-id (env WACONN_BUSINESS_ID) with `help` as its description.
FlagSpec business_id_flag(std::string help = "the account's business id", bool required = true);
// --lock-keys: `required` for rekey (the new mode), optional elsewhere (must equal the stored one).
FlagSpec lock_keys_flag(bool required);

// --business-id, checked (store::validate_business_id); "" when the flag is optional and unset.
std::string checked_business_id(const Flags& f);
// --lock-keys parsed; nullopt when it (and its env) is unset.
std::optional<store::LockKeyMode> lock_key_mode(const Flags& f);
// --database-url, checked (check_database_url).
std::string checked_database_url(const Flags& f);

// Connects as application_name "waconnector/<command>" and refuses a schema that is not this
// binary's (store::require_schema): a database that is down or unmigrated is a runtime failure (1).
pg::Connection open_database(const Flags& f, std::string_view purpose, std::string_view command);

}  // namespace wa::app
