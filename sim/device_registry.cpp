#include "sim/device_registry.h"

#include <stdexcept>

namespace wa::sim {
namespace {

constexpr std::size_t kMaxDevices = 100000;

bool is_hex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

using DeviceId = std::pair<std::uint64_t, std::uint32_t>;

std::pair<DeviceId, DeviceRecord> read_device(const std::vector<std::string>& f, const TsvError& bad) {
  DeviceRecord r;
  try {
    std::size_t pos = 0;
    r.user = std::stoull(f[0], &pos);
    if (pos != f[0].size()) throw bad("bad user");
    unsigned long d = std::stoul(f[1], &pos);
    if (pos != f[1].size() || d > 0xFFFF) throw bad("bad device id");
    r.device = static_cast<std::uint32_t>(d);
    r.added_ms = std::stoll(f[4], &pos);
    if (pos != f[4].size()) throw bad("bad added_ms");
  } catch (const std::logic_error&) {
    throw bad("bad number");
  }
  if (!is_hex64(f[2]) || !is_hex64(f[3])) throw bad("keys must be 64 lowercase hex characters");
  r.noise_pub_hex = f[2];
  r.identity_pub_hex = f[3];
  return {DeviceId{r.user, r.device}, r};
}

void write_device(std::ostream& os, const DeviceId&, const DeviceRecord& r) {
  os << r.user << '\t' << r.device << '\t' << r.noise_pub_hex << '\t' << r.identity_pub_hex << '\t'
     << r.added_ms;
}

}  // namespace

DeviceRegistry::DeviceRegistry(std::filesystem::path state_dir)
    : devices_(std::move(state_dir) / "devices.tsv", {"user\tdevice\tnoise_pub\tidentity_pub\tadded_ms", 5,
                                                      kMaxDevices, "devices", read_device, write_device}) {}

std::optional<DeviceRecord> DeviceRegistry::find(std::uint64_t user, std::uint32_t device) const {
  return devices_.find({user, device});
}

void DeviceRegistry::put(const DeviceRecord& rec) {
  if (!is_hex64(rec.noise_pub_hex) || !is_hex64(rec.identity_pub_hex))
    throw std::invalid_argument("device keys must be 64 lowercase hex characters");
  auto devices = devices_.lock();
  (*devices)[{rec.user, rec.device}] = rec;
  devices.save({rec.user, rec.device});
}

bool DeviceRegistry::remove(std::uint64_t user, std::uint32_t device) {
  return devices_.lock().erase({user, device});
}

std::vector<DeviceRecord> DeviceRegistry::all() const {
  return devices_.read([](const auto& devices) {
    std::vector<DeviceRecord> out;
    for (const auto& [_, r] : devices) out.push_back(r);
    return out;
  });
}

}  // namespace wa::sim
