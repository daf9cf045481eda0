// The key material of one companion device (transport reference §6.1) and what pairing adds to
// it (§6.4). Created once per account, kept in the shared store, loaded by whichever pod leads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/crypto/bytes.h"
#include "core/crypto/x25519.h"

namespace wa::client {

using crypto::Bytes;
using crypto::Key32;
using crypto::KeyPair;

struct SignedPreKey {
  std::uint32_t id = 1;  // whatsmeow creates the signed pre-key with id 1 together with the device
  KeyPair pair;
  Bytes signature;  // 64 bytes: XEdDSA by the identity key over 0x05 || pair.pub
};

// One-time pre-key (e2e reference §2.2): 24-bit id, private key stored, public derived.
struct PreKey {
  std::uint32_t id = 0;
  KeyPair pair;
  bool uploaded = false;
};

inline constexpr std::uint32_t kMaxPreKeyId = 0xFFFFFF;  // ids are 24-bit on the wire and in the store

struct DeviceKeys {
  KeyPair noise_key;     // Noise static key
  KeyPair identity_key;  // Signal identity
  SignedPreKey signed_pre_key;
  std::uint32_t registration_id = 0;
  Key32 adv_secret{};  // HMAC key for pair-success; replaced by the pair-code derivation (§6.6)

  // Filled by pair-success (empty before pairing).
  std::string jid;       // own device JID, e.g. "15550001:12@s.whatsapp.net"
  std::string lid;       // own LID device JID, may be empty
  Bytes account;         // ADVSignedDeviceIdentity bytes, accountSignatureKey included
  std::string platform;  // <platform name=...> of the phone
  std::string business_name;
  std::string push_name;

  bool paired() const { return !jid.empty(); }

  // Fresh key material for a new device: random keys (clamped), signed pre-key id 1 signed by
  // the identity key, random 32-bit registration id, random adv secret.
  static DeviceKeys generate();
};

// XEdDSA signature of the identity key over 0x05 || spk_pub (what the registration payload and
// the pre-key upload carry).
Bytes sign_pre_key(const KeyPair& identity, const Key32& spk_pub);

}  // namespace wa::client
