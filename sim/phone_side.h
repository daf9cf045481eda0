// What the phone computes when it links a companion (transport reference §6.3, §6.4, §6.6), the
// mirror image of the client's checks: reading a scanned QR string, the signed device identity
// inside pair-success, checking the companion's device signature in pair-device-sign, and the
// primary's half of pair-code linking. Pure functions over bytes, so tests can drive each step.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/crypto/bytes.h"
#include "core/crypto/x25519.h"

namespace wa::sim {

struct ScannedQr {
  std::string ref;
  wa::crypto::Key32 noise_pub{};
  wa::crypto::Key32 identity_pub{};
  wa::crypto::Key32 adv_secret{};
  char platform = 0;  // 0 when the string has no type (Baileys 6 form)
};

// "https://wa.me/settings/linked_devices#REF,NOISE,IDENTITY,ADV,TYPE" or Baileys 6's
// "REF,NOISE,IDENTITY,ADV". Throws std::invalid_argument with the reason when it is not one.
ScannedQr parse_qr(std::string_view qr);

struct SignedIdentity {
  wa::crypto::Bytes container;  // ADVSignedDeviceIdentityHMAC, the <device-identity> content
  wa::crypto::Bytes details;    // ADVDeviceIdentity bytes the companion must sign back
};

// The pair-success identity for a new companion: ADVDeviceIdentity{raw_id, now, key_index, E2EE}
// signed by the phone's account key (prefix 06 00, over details || companion identity pub),
// wrapped with HMAC-SHA256 under the companion's adv secret.
SignedIdentity make_signed_identity(const wa::crypto::KeyPair& account, const wa::crypto::Key32& adv_secret,
                                    const wa::crypto::Key32& companion_identity_pub, std::uint32_t raw_id,
                                    std::uint32_t key_index);

// Checks the ADVSignedDeviceIdentity in pair-device-sign: our details unchanged, no account key,
// and a device signature by the companion's identity key over 06 01 || details || identity pub ||
// account pub. Returns the reason it is refused, or nullopt when it is good.
std::optional<std::string> check_device_sign(wa::crypto::ByteView signed_identity, wa::crypto::ByteView details,
                                             const wa::crypto::Key32& companion_identity_pub,
                                             const wa::crypto::Key32& account_pub);

// Pair code (§6.6), the primary's side. Wrapping and unwrapping an ephemeral key under the
// code is core/client/pair_code.h's (wrap_ephemeral / unwrap_ephemeral), the same as the client's.
// companion_finish as the primary reads it: opens the key bundle with the ephemeral shared
// secret, checks that it names the companion's identity and the primary's, and derives the adv
// secret that keys the pair-success HMAC. Throws std::invalid_argument with the reason (a wrong
// code shows up here: the bundle does not authenticate).
wa::crypto::Key32 primary_finish(const wa::crypto::KeyPair& primary_ephemeral, const wa::crypto::Key32& companion_ephemeral,
                                 const wa::crypto::KeyPair& primary_identity, const wa::crypto::Key32& companion_identity,
                                 wa::crypto::ByteView wrapped_key_bundle);

}  // namespace wa::sim
