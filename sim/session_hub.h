// Which sessions are where, for the admin API and for "one live connection per device": the
// connections waiting for pairing (QR refs, pair-code hellos), the logged-in connection of each
// device, and the pre-key count the server holds per device. Used only on the io thread (the
// admin handlers hop onto it), so it needs no lock and its pointers are valid while listed:
// sessions remove themselves in on_closed().
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <utility>

namespace wa::sim {

class WaSession;

class SessionHub {
 public:
  using DeviceKey = std::pair<std::uint64_t, std::uint32_t>;

  void add_pairing(WaSession* s) { pairing_.insert(s); }
  void remove_pairing(WaSession* s) { pairing_.erase(s); }
  const std::set<WaSession*>& pairing() const { return pairing_; }

  // Makes `s` the device's live session; returns the one it replaces (nullptr if none).
  WaSession* set_live(DeviceKey d, WaSession* s) {
    auto& slot = live_[d];
    WaSession* old = slot;
    slot = s;
    return old == s ? nullptr : old;
  }
  void clear_live(DeviceKey d, WaSession* s) {
    auto it = live_.find(d);
    if (it != live_.end() && it->second == s) live_.erase(it);
  }
  WaSession* live(DeviceKey d) const {
    auto it = live_.find(d);
    return it == live_.end() ? nullptr : it->second;
  }

  std::uint32_t pre_keys(DeviceKey d) const {
    auto it = pre_keys_.find(d);
    return it == pre_keys_.end() ? 0 : it->second;
  }
  void add_pre_keys(DeviceKey d, std::uint32_t n) {
    auto& c = pre_keys_[d];
    c = c + n > kMaxPreKeys ? kMaxPreKeys : c + n;
  }
  void forget(DeviceKey d) { pre_keys_.erase(d); }

 private:
  static constexpr std::uint32_t kMaxPreKeys = 1u << 20;
  std::set<WaSession*> pairing_;
  std::map<DeviceKey, WaSession*> live_;
  std::map<DeviceKey, std::uint32_t> pre_keys_;
};

}  // namespace wa::sim
