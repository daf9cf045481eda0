// The virtual phones wasim plays (POST /admin/phones): one per phone number, each with the
// account key (Curve25519; it signs the ADV device identity of every companion it links, and
// doubles as the primary's identity key in pair-code linking) and the next companion device id.
// Kept in <state>/phones.tsv (0600; changes appended, see tsv_table.h) so linked devices stay valid across restarts.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "core/crypto/x25519.h"
#include "sim/tsv_table.h"

namespace wa::sim {

struct PhoneRecord {
  std::uint64_t user = 0;  // the number's digits, the JID user part
  wa::crypto::KeyPair account;
  std::uint32_t next_device = 1;  // companion device ids start at 1 (0 is the phone)
  std::int64_t added_ms = 0;
};

// "+1 555 0001", "15550001" -> 15550001; nullopt unless wa::phone_digits (common/phone.h) accepts it.
std::optional<std::uint64_t> parse_phone(std::string_view text);

class PhoneRegistry {
 public:
  // Loads <state_dir>/phones.tsv if present; throws std::runtime_error naming file and line on a
  // malformed entry.
  explicit PhoneRegistry(std::filesystem::path state_dir);

  // Creates the phone with a fresh account key; `created` false if it existed (unchanged).
  PhoneRecord create(std::uint64_t user, bool& created);
  std::optional<PhoneRecord> find(std::uint64_t user) const;
  // Reserves the next companion device id of this phone (persisted); nullopt for an unknown phone.
  std::optional<std::uint32_t> allocate_device(std::uint64_t user);

 private:
  TsvTable<std::uint64_t, PhoneRecord> phones_;
};

}  // namespace wa::sim
