#include "sim/device_registry.h"

#include "sim/tsv_file.h"

#include <sstream>
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

}  // namespace

DeviceRegistry::DeviceRegistry(std::filesystem::path state_dir) : file_(std::move(state_dir) / "devices.tsv") {
  read_tsv(file_, 5, [&](const std::vector<std::string>& f, const TsvError& bad) {
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
    if (devices_.size() >= kMaxDevices) throw bad("too many devices");
    devices_[{r.user, r.device}] = r;
  });
}

std::optional<DeviceRecord> DeviceRegistry::find(std::uint64_t user, std::uint32_t device) const {
  std::lock_guard lock(mu_);
  auto it = devices_.find({user, device});
  if (it == devices_.end()) return std::nullopt;
  return it->second;
}

void DeviceRegistry::put(const DeviceRecord& rec) {
  if (!is_hex64(rec.noise_pub_hex) || !is_hex64(rec.identity_pub_hex))
    throw std::invalid_argument("device keys must be 64 lowercase hex characters");
  std::lock_guard lock(mu_);
  devices_[{rec.user, rec.device}] = rec;
  save_locked();
}

bool DeviceRegistry::remove(std::uint64_t user, std::uint32_t device) {
  std::lock_guard lock(mu_);
  if (devices_.erase({user, device}) == 0) return false;
  save_locked();
  return true;
}

std::vector<DeviceRecord> DeviceRegistry::all() const {
  std::lock_guard lock(mu_);
  std::vector<DeviceRecord> out;
  for (const auto& [_, r] : devices_) out.push_back(r);
  return out;
}

void DeviceRegistry::save_locked() const {
  std::ostringstream os;
  os << "# user\tdevice\tnoise_pub\tidentity_pub\tadded_ms\n";
  for (const auto& [_, r] : devices_)
    os << r.user << '\t' << r.device << '\t' << r.noise_pub_hex << '\t' << r.identity_pub_hex << '\t' << r.added_ms
       << '\n';
  write_private_file(file_, os.str());
}

}  // namespace wa::sim
