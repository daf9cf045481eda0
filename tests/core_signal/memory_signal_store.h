// In-memory Signal stores for tests and fuzz targets (header-only so fuzz/ can use it without a
// test library). Every write can be made to fail (fail_writes) to prove that store failures reach
// the caller as the very exception the store threw.
#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/crypto/random.h"
#include "core/crypto/xeddsa.h"
#include "core/signal/signal_stores.h"

namespace wa::test {

// What a fenced store throws in these tests (a stand-in for client::StoreFenced).
class FakeFenced : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class MemorySignalStore : public signal::SessionStore,
                          public signal::IdentityStore,
                          public signal::PreKeyStore,
                          public signal::SignedPreKeyStore,
                          public signal::SenderKeyStore {
 public:
  signal::LocalIdentity local;
  std::map<std::uint32_t, crypto::KeyPair> pre_keys;
  std::vector<std::uint32_t> removed_pre_keys;
  signal::SignedPreKeyPair signed_pre_key;
  std::map<signal::Address, crypto::Bytes> sessions;
  std::map<signal::Address, crypto::Key32> identities;
  std::map<signal::SenderKeyName, crypto::Bytes> sender_keys;
  bool fail_writes = false;
  int writes = 0;

  // Fresh identity, registration id, signed pre-key (id 1) and `pre_key_count` one-time pre-keys
  // with ids 1..n.
  static MemorySignalStore generate(std::uint32_t pre_key_count = 5) {
    MemorySignalStore s;
    s.local.identity = crypto::KeyPair::generate();
    auto r = crypto::random_bytes(2);
    s.local.registration_id = 1 + ((std::uint32_t{r[0]} << 8 | r[1]) % 16380);
    s.signed_pre_key.id = 1;
    s.signed_pre_key.pair = crypto::KeyPair::generate();
    crypto::Bytes msg{0x05};
    msg.insert(msg.end(), s.signed_pre_key.pair.pub.begin(), s.signed_pre_key.pair.pub.end());
    s.signed_pre_key.signature = crypto::xeddsa_sign(s.local.identity.priv, msg);
    for (std::uint32_t id = 1; id <= pre_key_count; ++id) s.pre_keys[id] = crypto::KeyPair::generate();
    return s;
  }

  signal::SignalStores stores() { return {*this, *this, *this, *this, *this}; }

  // --- SessionStore ---
  std::optional<crypto::Bytes> load_session(const signal::Address& a) override {
    auto it = sessions.find(a);
    if (it == sessions.end()) return std::nullopt;
    return it->second;
  }
  void store_session(const signal::Address& a, crypto::ByteView record) override {
    write();
    sessions[a] = crypto::Bytes(record.begin(), record.end());
  }
  bool contains_session(const signal::Address& a) override { return sessions.count(a) != 0; }
  bool delete_session(const signal::Address& a) override {
    write();
    return sessions.erase(a) != 0;
  }
  std::size_t delete_all_sessions(const std::string& name) override {
    write();
    std::size_t n = 0;
    for (auto it = sessions.begin(); it != sessions.end();) {
      if (it->first.name == name) {
        it = sessions.erase(it);
        ++n;
      } else {
        ++it;
      }
    }
    return n;
  }
  std::vector<std::uint32_t> sub_device_sessions(const std::string& name) override {
    std::vector<std::uint32_t> out;
    for (const auto& [a, _] : sessions)
      if (a.name == name && a.device != 1) out.push_back(a.device);
    return out;
  }

  // --- IdentityStore ---
  signal::LocalIdentity local_identity() override { return local; }
  std::optional<crypto::Key32> load_identity(const signal::Address& a) override {
    auto it = identities.find(a);
    if (it == identities.end()) return std::nullopt;
    return it->second;
  }
  void save_identity(const signal::Address& a, const crypto::Key32& key) override {
    write();
    identities[a] = key;
  }
  void delete_identity(const signal::Address& a) override {
    write();
    identities.erase(a);
  }

  // --- PreKeyStore / SignedPreKeyStore ---
  std::optional<crypto::KeyPair> load_pre_key(std::uint32_t id) override {
    auto it = pre_keys.find(id);
    if (it == pre_keys.end()) return std::nullopt;
    return it->second;
  }
  void remove_pre_key(std::uint32_t id) override {
    write();
    pre_keys.erase(id);
    removed_pre_keys.push_back(id);
  }
  std::optional<signal::SignedPreKeyPair> load_signed_pre_key(std::uint32_t id) override {
    if (id != signed_pre_key.id) return std::nullopt;
    return signed_pre_key;
  }

  // --- SenderKeyStore ---
  std::optional<crypto::Bytes> load_sender_key(const signal::SenderKeyName& n) override {
    auto it = sender_keys.find(n);
    if (it == sender_keys.end()) return std::nullopt;
    return it->second;
  }
  void store_sender_key(const signal::SenderKeyName& n, crypto::ByteView record) override {
    write();
    sender_keys[n] = crypto::Bytes(record.begin(), record.end());
  }

 private:
  void write() {
    if (fail_writes) throw FakeFenced("store write refused: lease epoch moved");
    ++writes;
  }
};

}  // namespace wa::test
