// The phones and companion devices wasim knows, in memory and in the state dir (devices.tsv,
// one device per line; changes appended, see tsv_table.h). Issue 3 only looks devices up: a
// login for a device that is not here gets <failure reason="401"/>. Issue 4 (pairing) adds
// devices when a pairing completes and removes them on logout, and adds phones for /admin/phones.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sim/tsv_table.h"

namespace wa::sim {

struct DeviceRecord {
  std::uint64_t user = 0;        // phone number (JID user part)
  std::uint32_t device = 0;      // device id (>0 for companions)
  std::string noise_pub_hex;     // the companion's Noise static key: a login must present it
  std::string identity_pub_hex;  // Signal identity, for issue 4
  std::int64_t added_ms = 0;
};

class DeviceRegistry {
 public:
  // Loads <state_dir>/devices.tsv if present; throws std::runtime_error naming the file and line
  // on a malformed entry (the state dir is ours, so corruption is an error, not input to ignore).
  explicit DeviceRegistry(std::filesystem::path state_dir);

  std::optional<DeviceRecord> find(std::uint64_t user, std::uint32_t device) const;
  // Adds or replaces a device and persists the registry.
  void put(const DeviceRecord& rec);
  bool remove(std::uint64_t user, std::uint32_t device);
  std::vector<DeviceRecord> all() const;

 private:
  TsvTable<std::pair<std::uint64_t, std::uint32_t>, DeviceRecord> devices_;
};

}  // namespace wa::sim
