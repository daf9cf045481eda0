// Phone number <-> LID of an account's contacts (wa_lid_map, migration 0008): user parts only.
// The writes run on a connection the caller fences (they join its transaction).
#pragma once

#include <optional>
#include <string>

#include "store/pg.h"

namespace wa::store {

// Stores the pair, removing any older pair of either side (one LID per number, one number per
// LID), and moves the contact's Signal state kept under the phone number (sessions, identities,
// sender keys: address "<pn>:<device>") to its LID address ("<lid>_1:<device>"), as whatsmeow's
// MigratePNToLID does: the contact's messages now come from its LID, and a session left under the
// number would make them fail to decrypt (or start a second session). A LID row that exists
// already wins; the number's rows are deleted. Must run inside a transaction on `tx` (the caller's
// fenced write). No-op when unchanged.
void put_lid_mapping(pg::Connection& tx, const std::string& business_id, const std::string& lid_user,
                     const std::string& pn_user);

std::optional<std::string> lid_for_pn(pg::Connection& conn, const std::string& business_id,
                                      const std::string& pn_user);
std::optional<std::string> pn_for_lid(pg::Connection& conn, const std::string& business_id,
                                      const std::string& lid_user);

}  // namespace wa::store
