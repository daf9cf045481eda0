#include "core/client/pair_success.h"

#include "core/crypto/digest.h"
#include "core/crypto/xeddsa.h"
#include "wa_adv.pb.h"

namespace wa::client {
namespace {

using crypto::Bytes;

Bytes concat(std::initializer_list<crypto::ByteView> parts) {
  Bytes out;
  for (auto p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

const std::uint8_t kHostedPrefix[2] = {0x06, 0x05};
const std::uint8_t kAccountPrefix[2] = {0x06, 0x00};
const std::uint8_t kDevicePrefix[2] = {0x06, 0x01};

}  // namespace

PairedIdentity verify_pair_success(crypto::ByteView device_identity, const crypto::Key32& adv_secret,
                                   const crypto::KeyPair& identity) {
  if (device_identity.empty() || device_identity.size() > kMaxDeviceIdentitySize) {
    throw PairError(500, "internal-error", "device-identity is empty or larger than 16 KiB");
  }
  wa::proto::ADVSignedDeviceIdentityHMAC container;
  if (!container.ParseFromArray(device_identity.data(), static_cast<int>(device_identity.size())) ||
      !container.has_details() || !container.has_hmac()) {
    throw PairError(500, "internal-error", "device-identity is not an ADVSignedDeviceIdentityHMAC with details and hmac");
  }
  const bool hosted_account = container.account_type() == wa::proto::HOSTED;
  Bytes hmac_input = hosted_account ? concat({kHostedPrefix, crypto::view(container.details())})
                                    : crypto::to_bytes(container.details());
  auto mac = crypto::hmac_sha256(adv_secret, hmac_input);
  if (!crypto::equal_ct(mac, crypto::view(container.hmac()))) {
    throw PairError(401, "hmac-mismatch", "pair-success HMAC does not match our adv secret");
  }

  wa::proto::ADVSignedDeviceIdentity signed_identity;
  if (!signed_identity.ParseFromString(container.details()) || !signed_identity.has_details()) {
    throw PairError(500, "internal-error", "pair-success details are not an ADVSignedDeviceIdentity");
  }
  wa::proto::ADVDeviceIdentity device;
  if (!device.ParseFromString(signed_identity.details())) {
    throw PairError(500, "internal-error", "pair-success identity details are not an ADVDeviceIdentity");
  }
  if (signed_identity.account_signature_key().size() != 32 || signed_identity.account_signature().size() != 64) {
    throw PairError(401, "signature-mismatch", "account signature key or signature has the wrong length");
  }
  const auto account_key = crypto::key32_from(crypto::view(signed_identity.account_signature_key()), "account key");
  const bool hosted_device = device.device_type() == wa::proto::HOSTED;
  Bytes account_msg = concat({hosted_device ? crypto::ByteView(kHostedPrefix) : crypto::ByteView(kAccountPrefix),
                              crypto::view(signed_identity.details()), identity.pub});
  if (!crypto::xeddsa_verify(account_key, account_msg, crypto::view(signed_identity.account_signature()))) {
    throw PairError(401, "signature-mismatch", "account signature does not verify under the phone's account key");
  }

  Bytes device_msg = concat({kDevicePrefix, crypto::view(signed_identity.details()), identity.pub, account_key});
  const Bytes device_sig = crypto::xeddsa_sign(identity.priv, device_msg);
  signed_identity.set_device_signature(crypto::to_string(device_sig));

  PairedIdentity out;
  out.account = crypto::to_bytes(signed_identity.SerializeAsString());
  out.account_signature_key = account_key;
  out.key_index = device.key_index();
  signed_identity.clear_account_signature_key();  // the reply leaves it out, as whatsmeow does
  out.reply = crypto::to_bytes(signed_identity.SerializeAsString());
  return out;
}

}  // namespace wa::client
