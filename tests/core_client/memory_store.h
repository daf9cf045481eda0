// An in-memory DeviceStore for tests, with waits on its contents so tests await events instead of
// sleeping. It can be told to refuse writes (as a fenced store does).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/client/device_store.h"

namespace wa::clienttest {

struct StoreData {
  std::optional<client::DeviceKeys> device;
  std::map<std::uint32_t, client::PreKey> pre_keys;
  std::uint32_t max_pre_key_id = 0;
  std::optional<std::string> qr;
  std::vector<std::string> qr_history;
  std::chrono::system_clock::time_point qr_expires{};
  std::string paired_jid;
  int connected = 0, resumed = 0, activity = 0, writes = 0;
  std::vector<std::pair<core::DisconnectReason, std::string>> disconnects;
};

class MemoryStore {
 public:
  // The store object handed to one client; all of them share this MemoryStore's data, so a
  // second client (another "pod") resumes what the first saved.
  std::unique_ptr<client::DeviceStore> make();

  template <class Pred>
  bool wait(Pred pred, std::chrono::milliseconds timeout) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, timeout, [&] { return pred(data_); });
  }
  StoreData snapshot() {
    std::lock_guard lk(mu_);
    return data_;
  }
  void set_fenced(bool f) {
    std::lock_guard lk(mu_);
    fenced_ = f;
  }
  // Writes attempted after set_fenced(true).
  int refused() {
    std::lock_guard lk(mu_);
    return refused_;
  }

 private:
  friend class MemoryDeviceStore;
  template <class F>
  void write(F&& f) {
    std::lock_guard lk(mu_);
    if (fenced_) {
      ++refused_;
      throw client::StoreFenced("lease epoch moved (test)");
    }
    ++data_.writes;
    f(data_);
    cv_.notify_all();
  }
  template <class F>
  auto read(F&& f) {
    std::lock_guard lk(mu_);
    return f(data_);
  }
  std::mutex mu_;
  std::condition_variable cv_;
  StoreData data_;
  bool fenced_ = false;
  int refused_ = 0;
};

// What a client reported through ConnectionEvents, awaitable.
class EventLog {
 public:
  core::ConnectionEvents events();
  bool wait_state(core::ConnectionState s, std::chrono::milliseconds timeout);
  bool wait_disconnect(core::DisconnectReason r, std::chrono::milliseconds timeout);
  std::vector<core::ConnectionState> states();
  std::vector<std::pair<core::DisconnectReason, std::string>> disconnects();
  int count_state(core::ConnectionState s);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<core::ConnectionState> states_;
  std::vector<std::pair<core::DisconnectReason, std::string>> disconnects_;
};

}  // namespace wa::clienttest
