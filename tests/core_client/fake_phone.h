// The phone's side of pairing (reference §6.4) for tests: signs a companion's identity with an
// account key made here and wraps it in the HMAC container keyed by the companion's adv secret.
#pragma once

#include "core/crypto/digest.h"
#include "core/crypto/x25519.h"
#include "core/crypto/xeddsa.h"
#include "wa_adv.pb.h"

namespace wa::clienttest {

inline crypto::Bytes cat(std::initializer_list<crypto::ByteView> parts) {
  crypto::Bytes out;
  for (auto p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

struct FakePhone {
  crypto::KeyPair account = crypto::KeyPair::generate();
  bool hosted_device = false;
  bool hosted_account = false;
  std::uint32_t key_index = 7;

  crypto::Bytes pair_success(const crypto::Key32& adv_secret, const crypto::Key32& companion_identity_pub) const {
    wa::proto::ADVDeviceIdentity d;
    d.set_raw_id(12345);
    d.set_timestamp(1700000000);
    d.set_key_index(key_index);
    if (hosted_device) d.set_device_type(wa::proto::HOSTED);
    const std::string details = d.SerializeAsString();
    const std::uint8_t prefix[2] = {0x06, std::uint8_t(hosted_device ? 0x05 : 0x00)};
    auto sig = crypto::xeddsa_sign(account.priv, cat({prefix, crypto::view(details), companion_identity_pub}));
    wa::proto::ADVSignedDeviceIdentity s;
    s.set_details(details);
    s.set_account_signature_key(account.pub.data(), 32);
    s.set_account_signature(crypto::to_string(sig));
    const std::string inner = s.SerializeAsString();
    crypto::Bytes mac_in = crypto::to_bytes(inner);
    if (hosted_account) mac_in.insert(mac_in.begin(), {0x06, 0x05});
    auto mac = crypto::hmac_sha256(adv_secret, mac_in);
    wa::proto::ADVSignedDeviceIdentityHMAC h;
    h.set_details(inner);
    h.set_hmac(mac.data(), mac.size());
    if (hosted_account) h.set_account_type(wa::proto::HOSTED);
    return crypto::to_bytes(h.SerializeAsString());
  }

  // Checks the companion's pair-device-sign content as the server/phone would: the device
  // signature over 06 01 || details || identity || account key.
  bool device_signature_ok(const crypto::Bytes& reply, const crypto::Key32& companion_identity_pub) const {
    wa::proto::ADVSignedDeviceIdentity s;
    if (!s.ParseFromArray(reply.data(), static_cast<int>(reply.size()))) return false;
    const std::uint8_t p[2] = {0x06, 0x01};
    return crypto::xeddsa_verify(companion_identity_pub, cat({p, crypto::view(s.details()), companion_identity_pub, account.pub}),
                                 crypto::view(s.device_signature()));
  }
};

}  // namespace wa::clienttest
