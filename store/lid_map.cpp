#include "store/lid_map.h"

#include <stdexcept>

#include <fmt/format.h>

namespace wa::store {

namespace {

// User parts are digits (phone numbers and LIDs alike); anything else is a caller's bug or
// hostile input and must not become a key.
void check_user(const std::string& u, const char* what) {
  if (u.empty() || u.size() > 32 || u.find_first_not_of("0123456789") != std::string::npos)
    throw std::invalid_argument(fmt::format("{} user part must be 1-32 digits", what));
}

// Signal addresses are "<name>:<device>"; a LID's name is "<lid>_1" (core/signal/address.cpp).
void migrate_signal_state(pg::Connection& tx, const std::string& business_id, const std::string& lid_user,
                          const std::string& pn_user) {
  const auto purpose = fmt::format("move Signal state from phone number to LID for business {}", business_id);
  // A row whose LID twin exists already stays behind and is deleted with the rest: the LID wins.
  tx.exec(purpose,
          "UPDATE wa_signal_sessions s SET their_id = $2 || '_1:' || split_part(s.their_id, ':', 2) "
          "WHERE s.business_id = $1 AND split_part(s.their_id, ':', 1) = $3 AND NOT EXISTS ("
          "SELECT 1 FROM wa_signal_sessions l WHERE l.business_id = s.business_id AND l.our_jid = s.our_jid "
          "AND l.their_id = $2 || '_1:' || split_part(s.their_id, ':', 2))",
          {business_id, lid_user, pn_user});
  tx.exec(purpose,
          "UPDATE wa_signal_identities s SET their_id = $2 || '_1:' || split_part(s.their_id, ':', 2) "
          "WHERE s.business_id = $1 AND split_part(s.their_id, ':', 1) = $3 AND NOT EXISTS ("
          "SELECT 1 FROM wa_signal_identities l WHERE l.business_id = s.business_id AND l.our_jid = s.our_jid "
          "AND l.their_id = $2 || '_1:' || split_part(s.their_id, ':', 2))",
          {business_id, lid_user, pn_user});
  tx.exec(purpose,
          "UPDATE wa_signal_sender_keys s SET sender_id = $2 || '_1:' || split_part(s.sender_id, ':', 2) "
          "WHERE s.business_id = $1 AND split_part(s.sender_id, ':', 1) = $3 AND NOT EXISTS ("
          "SELECT 1 FROM wa_signal_sender_keys l WHERE l.business_id = s.business_id AND l.our_jid = s.our_jid "
          "AND l.chat_id = s.chat_id AND l.sender_id = $2 || '_1:' || split_part(s.sender_id, ':', 2))",
          {business_id, lid_user, pn_user});
  tx.exec(purpose, "DELETE FROM wa_signal_sessions WHERE business_id = $1 AND split_part(their_id, ':', 1) = $2",
          {business_id, pn_user});
  tx.exec(purpose, "DELETE FROM wa_signal_identities WHERE business_id = $1 AND split_part(their_id, ':', 1) = $2",
          {business_id, pn_user});
  tx.exec(purpose, "DELETE FROM wa_signal_sender_keys WHERE business_id = $1 AND split_part(sender_id, ':', 1) = $2",
          {business_id, pn_user});
}

}  // namespace

void put_lid_mapping(pg::Connection& tx, const std::string& business_id, const std::string& lid_user,
                     const std::string& pn_user) {
  check_user(lid_user, "LID");
  check_user(pn_user, "phone number");
  const auto purpose = fmt::format("store LID mapping for business {}", business_id);
  auto same = tx.exec(purpose, "SELECT 1 FROM wa_lid_map WHERE business_id = $1 AND lid = $2 AND pn = $3",
                      {business_id, lid_user, pn_user});
  if (same.rows() > 0) return;
  tx.exec(purpose, "DELETE FROM wa_lid_map WHERE business_id = $1 AND (lid = $2 OR pn = $3)",
          {business_id, lid_user, pn_user});
  tx.exec(purpose, "INSERT INTO wa_lid_map (business_id, lid, pn) VALUES ($1, $2, $3)",
          {business_id, lid_user, pn_user});
  migrate_signal_state(tx, business_id, lid_user, pn_user);
}

std::optional<std::string> lid_for_pn(pg::Connection& conn, const std::string& business_id,
                                      const std::string& pn_user) {
  auto r = conn.exec(fmt::format("look up LID for business {}", business_id),
                     "SELECT lid FROM wa_lid_map WHERE business_id = $1 AND pn = $2", {business_id, pn_user});
  if (r.rows() == 0) return std::nullopt;
  return std::string(r.text(0, 0));
}

std::optional<std::string> pn_for_lid(pg::Connection& conn, const std::string& business_id,
                                      const std::string& lid_user) {
  auto r =
      conn.exec(fmt::format("look up phone number for business {}", business_id),
                "SELECT pn FROM wa_lid_map WHERE business_id = $1 AND lid = $2", {business_id, lid_user});
  if (r.rows() == 0) return std::nullopt;
  return std::string(r.text(0, 0));
}

}  // namespace wa::store
