// ClientPayload builders with whatsmeow's values (transport reference §4): the base payload,
// the login payload of a paired device and the registration payload of a new one.
#pragma once

#include <cstdint>
#include <string>

#include "core/crypto/bytes.h"

namespace wa::proto {
class ClientPayload;
}

namespace wa::socket {

using crypto::Bytes;
using crypto::Key32;

// The web client version we announce (whatsmeow's).
struct WaVersion {
  std::uint32_t primary = 2, secondary = 3000, tertiary = 1045649367;
  std::string str() const;
};

wa::proto::ClientPayload base_client_payload(const WaVersion& v = {});

// Already paired: own JID user (the phone number as digits) and device id.
Bytes login_payload(std::uint64_t username, std::uint32_t device, const WaVersion& v = {});

struct RegistrationKeys {
  std::uint32_t registration_id = 0;
  Key32 identity_pub{};
  std::uint32_t signed_pre_key_id = 1;
  Key32 signed_pre_key_pub{};
  Bytes signed_pre_key_sig;  // 64 bytes: XEdDSA by the identity key over 0x05 || spk.pub
};
// New device: no username; devicePairingData filled as whatsmeow does.
Bytes registration_payload(const RegistrationKeys& keys, const WaVersion& v = {});

}  // namespace wa::socket
