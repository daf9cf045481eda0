// The Signal state of a virtual phone (device 0) so it can chat as a primary device: its
// identity (the account key), registration id, signed pre-key, one-time pre-keys, sessions,
// contacts' identities and sender keys. In memory, saved to <state>/phone-signal/<user>.tsv
// (0600, atomic rewrite) after each operation so a restart keeps the sessions. Not thread-safe:
// used on the io thread only.
#pragma once

#include <filesystem>
#include <map>

#include "core/signal/signal_stores.h"

namespace wa::sim {

class PhoneSignalStore final : public wa::signal::SessionStore,
                               public wa::signal::IdentityStore,
                               public wa::signal::PreKeyStore,
                               public wa::signal::SignedPreKeyStore,
                               public wa::signal::SenderKeyStore {
 public:
  static constexpr std::uint32_t kPreKeys = 50;

  // Loads the file, or creates the state from `identity` (fresh registration id and keys).
  PhoneSignalStore(std::filesystem::path file, const wa::crypto::KeyPair& identity);
  wa::signal::SignalStores stores() { return {*this, *this, *this, *this, *this}; }
  void save() const;

  const wa::signal::SignedPreKeyPair& signed_pre_key() const { return signed_pre_key_; }
  const std::map<std::uint32_t, wa::crypto::KeyPair>& pre_keys() const { return pre_keys_; }

  std::optional<wa::crypto::Bytes> load_session(const wa::signal::Address& a) override;
  void store_session(const wa::signal::Address& a, wa::crypto::ByteView record) override;
  bool contains_session(const wa::signal::Address& a) override { return sessions_.count(a) != 0; }
  bool delete_session(const wa::signal::Address& a) override { return sessions_.erase(a) != 0; }
  std::size_t delete_all_sessions(const std::string& name) override;
  std::vector<std::uint32_t> sub_device_sessions(const std::string& name) override;
  wa::signal::LocalIdentity local_identity() override { return local_; }
  std::optional<wa::crypto::Key32> load_identity(const wa::signal::Address& a) override;
  void save_identity(const wa::signal::Address& a, const wa::crypto::Key32& key) override {
    identities_[a] = key;
  }
  void delete_identity(const wa::signal::Address& a) override { identities_.erase(a); }
  std::optional<wa::crypto::KeyPair> load_pre_key(std::uint32_t id) override;
  void remove_pre_key(std::uint32_t id) override { pre_keys_.erase(id); }
  std::optional<wa::signal::SignedPreKeyPair> load_signed_pre_key(std::uint32_t id) override;
  std::optional<wa::crypto::Bytes> load_sender_key(const wa::signal::SenderKeyName& n) override;
  void store_sender_key(const wa::signal::SenderKeyName& n, wa::crypto::ByteView record) override;

 private:
  std::filesystem::path file_;
  wa::signal::LocalIdentity local_;
  wa::signal::SignedPreKeyPair signed_pre_key_;
  std::map<std::uint32_t, wa::crypto::KeyPair> pre_keys_;
  std::map<wa::signal::Address, wa::crypto::Bytes> sessions_;
  std::map<wa::signal::Address, wa::crypto::Key32> identities_;
  std::map<wa::signal::SenderKeyName, wa::crypto::Bytes> sender_keys_;
};

}  // namespace wa::sim
