#include "tests/core_client/memory_store.h"

#include <algorithm>

namespace wa::clienttest {

class MemoryDeviceStore : public client::DeviceStore {
 public:
  explicit MemoryDeviceStore(MemoryStore& m) : m_(m) {}
  std::optional<client::DeviceKeys> load_device() override {
    return m_.read([](StoreData& d) { return d.device; });
  }
  void save_device(const client::DeviceKeys& keys) override {
    m_.write([&](StoreData& d) { d.device = keys; });
  }
  std::uint32_t next_pre_key_id() override {
    return m_.read([](StoreData& d) { return d.max_pre_key_id + 1; });
  }
  void save_pre_keys(const std::vector<client::PreKey>& keys) override {
    m_.write([&](StoreData& d) {
      for (const auto& k : keys) {
        d.pre_keys[k.id] = k;
        d.max_pre_key_id = std::max(d.max_pre_key_id, k.id);
      }
    });
  }
  std::vector<client::PreKey> unuploaded_pre_keys(std::size_t limit) override {
    return m_.read([&](StoreData& d) {
      std::vector<client::PreKey> out;
      for (const auto& [id, k] : d.pre_keys) {
        if (out.size() >= limit) break;
        if (!k.uploaded) out.push_back(k);
      }
      return out;
    });
  }
  std::size_t uploaded_pre_key_count() override {
    return m_.read([](StoreData& d) {
      return static_cast<std::size_t>(std::count_if(d.pre_keys.begin(), d.pre_keys.end(), [](auto& p) { return p.second.uploaded; }));
    });
  }
  void mark_pre_keys_uploaded(std::uint32_t up_to_id) override {
    m_.write([&](StoreData& d) {
      for (auto& [id, k] : d.pre_keys) {
        if (id <= up_to_id) k.uploaded = true;
      }
    });
  }
  void set_qr(const std::string& qr, std::chrono::system_clock::time_point expires_at) override {
    m_.write([&](StoreData& d) {
      d.qr = qr;
      d.qr_history.push_back(qr);
      d.qr_expires = expires_at;
    });
  }
  void clear_qr() override {
    m_.write([](StoreData& d) { d.qr.reset(); });
  }
  void set_paired(const std::string& jid) override {
    m_.write([&](StoreData& d) { d.paired_jid = jid; });
  }
  void report_connected(bool resumed) override {
    m_.write([&](StoreData& d) {
      ++d.connected;
      if (resumed) ++d.resumed;
    });
  }
  void report_disconnected(core::DisconnectReason reason, const std::string& details) override {
    m_.write([&](StoreData& d) { d.disconnects.emplace_back(reason, details); });
  }
  void report_activity() override {
    m_.write([](StoreData& d) { ++d.activity; });
  }

 private:
  MemoryStore& m_;
};

std::unique_ptr<client::DeviceStore> MemoryStore::make() { return std::make_unique<MemoryDeviceStore>(*this); }

core::ConnectionEvents EventLog::events() {
  core::ConnectionEvents ev;
  ev.on_state = [this](core::ConnectionState s) {
    std::lock_guard lk(mu_);
    states_.push_back(s);
    cv_.notify_all();
  };
  ev.on_disconnect = [this](core::DisconnectReason r, const std::string& details) {
    std::lock_guard lk(mu_);
    disconnects_.emplace_back(r, details);
    cv_.notify_all();
  };
  return ev;
}

bool EventLog::wait_state(core::ConnectionState s, std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  return cv_.wait_for(lk, timeout, [&] { return std::find(states_.begin(), states_.end(), s) != states_.end(); });
}

bool EventLog::wait_disconnect(core::DisconnectReason r, std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  return cv_.wait_for(lk, timeout, [&] {
    return std::any_of(disconnects_.begin(), disconnects_.end(), [&](auto& d) { return d.first == r; });
  });
}

std::vector<core::ConnectionState> EventLog::states() {
  std::lock_guard lk(mu_);
  return states_;
}

std::vector<std::pair<core::DisconnectReason, std::string>> EventLog::disconnects() {
  std::lock_guard lk(mu_);
  return disconnects_;
}

int EventLog::count_state(core::ConnectionState s) {
  std::lock_guard lk(mu_);
  return static_cast<int>(std::count(states_.begin(), states_.end(), s));
}

}  // namespace wa::clienttest
