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

}  // namespace

void put_lid_mapping(pg::Connection& tx, const std::string& business_id, const std::string& lid_user,
                     const std::string& pn_user) {
  pg::TenantScope tenant(tx, business_id);
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
}

std::optional<std::string> lid_for_pn(pg::Connection& conn, const std::string& business_id,
                                      const std::string& pn_user) {
  pg::TenantScope tenant(conn, business_id);
  auto r = conn.exec(fmt::format("look up LID for business {}", business_id),
                     "SELECT lid FROM wa_lid_map WHERE business_id = $1 AND pn = $2", {business_id, pn_user});
  if (r.rows() == 0) return std::nullopt;
  return std::string(r.text(0, 0));
}

std::optional<std::string> pn_for_lid(pg::Connection& conn, const std::string& business_id,
                                      const std::string& lid_user) {
  pg::TenantScope tenant(conn, business_id);
  auto r =
      conn.exec(fmt::format("look up phone number for business {}", business_id),
                "SELECT pn FROM wa_lid_map WHERE business_id = $1 AND lid = $2", {business_id, lid_user});
  if (r.rows() == 0) return std::nullopt;
  return std::string(r.text(0, 0));
}

}  // namespace wa::store
