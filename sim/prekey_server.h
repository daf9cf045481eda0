// The server's half of Signal key distribution (e2e reference §2, §3): each device's uploaded
// registration id, identity, signed pre-key and one-time pre-keys, kept in <state>/prekeys.tsv
// (0600; changes appended, see tsv_table.h) so a restart does not lose them; the count query;
// bundle fetches, which hand out (and so consume) one one-time pre-key each. Thread-safe (admin
// handlers may read it).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <utility>

#include "common/error.h"
#include "core/binary/node.h"
#include "core/crypto/bytes.h"
#include "sim/tsv_table.h"

namespace wa::sim {

using UploadError = wa::Error<struct UploadErrorTag, std::invalid_argument>;

struct DeviceKeys {
  std::uint32_t registration_id = 0;
  wa::crypto::Key32 identity{};
  std::uint32_t signed_pre_key_id = 0;
  wa::crypto::Key32 signed_pre_key{};
  wa::crypto::Bytes signature;  // 64 bytes
  std::map<std::uint32_t, wa::crypto::Key32> one_time;
};

class PreKeyServer {
 public:
  using DeviceKey = std::pair<std::uint64_t, std::uint32_t>;
  // Limits on what a device may make us hold (whatsmeow uploads 812 at first, 50 later).
  static constexpr std::size_t kMaxKeysPerUpload = 2000;
  static constexpr std::size_t kMaxKeysPerDevice = 5000;

  // Loads <state_dir>/prekeys.tsv if present; throws std::runtime_error naming file and line.
  explicit PreKeyServer(std::filesystem::path state_dir);

  // The <iq xmlns="encrypt" type="set"> upload (§2.2): <registration> 4, <type> 0x05,
  // <identity> 32, <list> of <key><id>3<value>32, <skey><id>3<value>32<signature>64. Keys are
  // added to those already held; registration, identity and signed pre-key replace the old ones.
  // Throws UploadError (nothing stored) on any other shape.
  void upload(DeviceKey d, const wa::binary::Node& iq);
  // The keys a device registered with (the pairing ClientPayload's devicePairingData: registration
  // id, identity, signed pre-key and its signature), stored when it is linked. As on the real
  // service, a sender can then fetch a bundle (without a one-time key) before the device's first
  // upload, so a message sent right after linking reaches the new device. A different identity
  // replaces the slot (a re-linked device id); the same one keeps what the device uploaded since.
  void register_device(DeviceKey d, DeviceKeys k);
  std::size_t count(DeviceKey d) const;
  bool has(DeviceKey d) const;
  std::optional<DeviceKeys> find(DeviceKey d) const;
  // The <user jid=…> bundle element of a fetch answer (§2.4), taking the lowest one-time key;
  // nullopt when the device never uploaded keys.
  std::optional<wa::binary::Node> take_bundle(DeviceKey d, const wa::binary::Jid& jid);
  void forget(DeviceKey d);

 private:
  TsvTable<DeviceKey, DeviceKeys> keys_;
};

// 3-byte big-endian key ids and 4-byte registration ids as they travel.
wa::crypto::Bytes be_bytes(std::uint32_t v, std::size_t width);

}  // namespace wa::sim
