// QR strings for pairing (transport reference §6.3, whatsmeow's current form) and the rotation
// schedule of the pair-device refs (§6.2: the first ref 60 s, each later one 20 s).
#pragma once

#include <chrono>
#include <string>

#include "core/crypto/bytes.h"

namespace wa::client {

// whatsmeow's platform character for a device registered with DeviceProps.platformType UNKNOWN
// and UserAgent.platform WEB, which is what our registration payload says.
inline constexpr char kQrPlatformWeb = '9';

// "https://wa.me/settings/linked_devices#REF,NOISE,IDENTITY,ADV,TYPE" with NOISE/IDENTITY/ADV in
// standard base64 with padding. Throws std::invalid_argument for an empty ref or one holding ','.
std::string make_qr_string(const std::string& ref, const crypto::Key32& noise_pub, const crypto::Key32& identity_pub,
                           const crypto::Key32& adv_secret, char platform = kQrPlatformWeb);

// How long the ref at `index` (0-based) is shown.
inline std::chrono::milliseconds qr_timeout(std::size_t index, std::chrono::milliseconds first,
                                            std::chrono::milliseconds next) {
  return index == 0 ? first : next;
}

}  // namespace wa::client
