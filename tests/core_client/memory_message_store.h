// An in-memory MessageStore for client tests: Signal state (tests/core_signal's MemorySignalStore),
// inbox and LID map, shared with the test through a shared_ptr. transaction() is all or nothing
// like the PostgreSQL one: a body that throws leaves the state exactly as before.
#pragma once

#include <memory>
#include <mutex>
#include <set>

#include "core/client/message_store.h"
#include "tests/core_signal/memory_signal_store.h"

namespace wa::clienttest {

struct MessageData {
  std::mutex mu;
  test::MemorySignalStore signal;
  std::vector<client::InboxEntry> inbox;
  std::map<std::string, std::string> lid_to_pn;
  std::map<std::string, std::set<std::string>> sender_key_devices;  // group -> addresses
  int transactions = 0;
  bool fenced = false;  // every write throws client::StoreFenced

  std::vector<client::InboxEntry> inbox_copy() {
    std::lock_guard lk(mu);
    return inbox;
  }
};

class MemoryMessageStore final : public client::MessageStore {
 public:
  explicit MemoryMessageStore(std::shared_ptr<MessageData> d) : d_(std::move(d)) {}

  signal::SignalStores signal_stores() override { return d_->signal.stores(); }
  void transaction(std::string_view purpose, const std::function<void()>& body) override {
    if (d_->fenced) throw client::StoreFenced(std::string(purpose) + ": fenced");
    std::lock_guard lk(d_->mu);
    auto signal = d_->signal;
    auto inbox = d_->inbox;
    auto lids = d_->lid_to_pn;
    auto skd = d_->sender_key_devices;
    try {
      body();
      ++d_->transactions;
    } catch (...) {
      d_->signal = std::move(signal);
      d_->inbox = std::move(inbox);
      d_->lid_to_pn = std::move(lids);
      d_->sender_key_devices = std::move(skd);
      throw;
    }
  }
  bool inbox_contains(const crypto::Bytes& hash) override {
    for (const auto& e : d_->inbox)
      if (e.ciphertext_hash == hash) return true;
    return false;
  }
  bool inbox_put(const client::InboxEntry& e) override {
    if (d_->fenced) throw client::StoreFenced("inbox: fenced");
    for (const auto& x : d_->inbox)
      if (x.ciphertext_hash == e.ciphertext_hash ||
          (x.chat == e.chat && x.sender == e.sender && x.id == e.id))
        return false;
    d_->inbox.push_back(e);
    return true;
  }
  std::vector<client::OutboxItem> claim_outbox(std::size_t) override { return {}; }
  void release_outbox(const std::string&) override {}
  bool mark_outbox(const std::string&, client::OutboxStatus, const std::optional<std::string>&) override {
    return false;
  }
  std::optional<client::OutboxItem> find_outbox(const std::string&) override { return std::nullopt; }
  void put_lid_mapping(const std::string& lid, const std::string& pn) override { d_->lid_to_pn[lid] = pn; }
  std::optional<std::string> lid_for_pn(const std::string& pn) override {
    for (const auto& [l, p] : d_->lid_to_pn)
      if (p == pn) return l;
    return std::nullopt;
  }
  std::optional<std::string> pn_for_lid(const std::string& lid) override {
    auto it = d_->lid_to_pn.find(lid);
    if (it == d_->lid_to_pn.end()) return std::nullopt;
    return it->second;
  }
  std::vector<std::string> sender_key_devices(const std::string& group) override {
    const auto& s = d_->sender_key_devices[group];
    return {s.begin(), s.end()};
  }
  void add_sender_key_devices(const std::string& group, const std::vector<std::string>& devices) override {
    if (d_->fenced) throw client::StoreFenced("sender key recipients: fenced");
    d_->sender_key_devices[group].insert(devices.begin(), devices.end());
  }

 private:
  std::shared_ptr<MessageData> d_;
};

}  // namespace wa::clienttest
