#include "sim/phone_side.h"

#include <openssl/evp.h>

#include <chrono>
#include <stdexcept>
#include <vector>

#include "core/crypto/aes.h"
#include "core/crypto/base64.h"
#include "core/crypto/crypto_error.h"
#include "core/crypto/digest.h"
#include "core/crypto/random.h"
#include "core/crypto/xeddsa.h"
#include "sim/tsv_file.h"
#include "wa_adv.pb.h"

namespace wa::sim {
namespace {

using wa::crypto::Bytes;
using wa::crypto::ByteView;
using wa::crypto::Key32;

constexpr std::string_view kQrPrefix = "https://wa.me/settings/linked_devices#";
constexpr std::size_t kMaxQr = 2048;
constexpr std::size_t kMaxIdentity = 16 * 1024;

Key32 key_field(std::string_view b64, const char* what) {
  auto bytes = wa::crypto::base64_decode(b64);
  if (!bytes || bytes->size() != 32) throw std::invalid_argument(std::string(what) + " is not base64 of 32 bytes");
  return wa::crypto::key32_from(*bytes, what);
}

Bytes concat(std::initializer_list<ByteView> parts) {
  Bytes out;
  for (auto p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

const std::uint8_t kAccountPrefix[] = {6, 0};
const std::uint8_t kDevicePrefix[] = {6, 1};

}  // namespace

ScannedQr parse_qr(std::string_view qr) {
  if (qr.size() > kMaxQr) throw std::invalid_argument("QR string longer than 2048 characters");
  if (qr.substr(0, kQrPrefix.size()) == kQrPrefix) qr.remove_prefix(kQrPrefix.size());
  const auto parts = split_fields(qr, ',', 5);
  if (parts.size() != 4 && parts.size() != 5)
    throw std::invalid_argument("QR must be REF,NOISE,IDENTITY,ADV[,TYPE] (" +
                                (parts.size() > 5 ? std::string("more than 5") : std::to_string(parts.size())) +
                                " parts)");
  ScannedQr out;
  if (parts[0].empty()) throw std::invalid_argument("QR ref is empty");
  out.ref = std::string(parts[0]);
  out.noise_pub = key_field(parts[1], "QR noise key");
  out.identity_pub = key_field(parts[2], "QR identity key");
  out.adv_secret = key_field(parts[3], "QR adv secret");
  if (parts.size() == 5) {
    if (parts[4].size() != 1) throw std::invalid_argument("QR platform type must be one character");
    out.platform = parts[4][0];
  }
  return out;
}

SignedIdentity make_signed_identity(const wa::crypto::KeyPair& account, const Key32& adv_secret,
                                    const Key32& companion_identity_pub, std::uint32_t raw_id, std::uint32_t key_index) {
  wa::proto::ADVDeviceIdentity d;
  d.set_raw_id(raw_id);
  d.set_timestamp(static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count()));
  d.set_key_index(key_index);
  d.set_account_type(wa::proto::E2EE);
  d.set_device_type(wa::proto::E2EE);
  SignedIdentity out;
  const std::string details = d.SerializeAsString();
  out.details = wa::crypto::to_bytes(details);
  const Bytes signed_msg = concat({ByteView(kAccountPrefix), out.details, companion_identity_pub});
  const Bytes account_sig = wa::crypto::xeddsa_sign(account.priv, signed_msg);

  wa::proto::ADVSignedDeviceIdentity a;
  a.set_details(details);
  a.set_account_signature_key(account.pub.data(), account.pub.size());
  a.set_account_signature(account_sig.data(), account_sig.size());
  const std::string a_bytes = a.SerializeAsString();

  const Key32 mac = wa::crypto::hmac_sha256(adv_secret, wa::crypto::view(a_bytes));
  wa::proto::ADVSignedDeviceIdentityHMAC h;
  h.set_details(a_bytes);
  h.set_hmac(mac.data(), mac.size());
  out.container = wa::crypto::to_bytes(h.SerializeAsString());
  return out;
}

std::optional<std::string> check_device_sign(ByteView signed_identity, ByteView details, const Key32& companion_identity_pub,
                                             const Key32& account_pub) {
  if (signed_identity.size() > kMaxIdentity) return "device-identity larger than 16 KiB";
  wa::proto::ADVSignedDeviceIdentity a;
  if (!a.ParseFromArray(signed_identity.data(), static_cast<int>(signed_identity.size())))
    return "device-identity is not an ADVSignedDeviceIdentity";
  if (!wa::crypto::equal_ct(wa::crypto::view(a.details()), details)) return "device-identity details changed";
  if (a.has_account_signature_key() && !a.account_signature_key().empty())
    return "device-identity still carries the account signature key";
  if (a.device_signature().size() != 64) return "device signature is not 64 bytes";
  const Bytes msg = concat({ByteView(kDevicePrefix), details, companion_identity_pub, account_pub});
  if (!wa::crypto::xeddsa_verify(companion_identity_pub, msg, wa::crypto::view(a.device_signature())))
    return "device signature does not verify under the companion's identity key";
  return std::nullopt;
}

Key32 primary_finish(const wa::crypto::KeyPair& primary_ephemeral, const Key32& companion_ephemeral,
                     const wa::crypto::KeyPair& primary_identity, const Key32& companion_identity,
                     ByteView wrapped_key_bundle) {
  if (wrapped_key_bundle.size() != 32 + 12 + 96 + 16) throw std::invalid_argument("key bundle must be 156 bytes");
  try {
    const Key32 eph_shared = wa::crypto::x25519(primary_ephemeral.priv, companion_ephemeral);
    const Bytes bundle_key = wa::crypto::hkdf_sha256(
        eph_shared, wrapped_key_bundle.subspan(0, 32), wa::crypto::view("link_code_pairing_key_bundle_encryption_key"), 32);
    Bytes pt;
    try {
      pt = wa::crypto::aes256_gcm_open(bundle_key, wrapped_key_bundle.subspan(32, 12), {}, wrapped_key_bundle.subspan(44));
    } catch (const wa::crypto::CryptoError&) {
      throw std::invalid_argument("key bundle does not authenticate (wrong linking code?)");
    }
    const ByteView p(pt);
    if (!wa::crypto::equal_ct(p.subspan(0, 32), companion_identity))
      throw std::invalid_argument("key bundle names another companion identity");
    if (!wa::crypto::equal_ct(p.subspan(32, 32), primary_identity.pub))
      throw std::invalid_argument("key bundle names another primary identity");
    const Key32 identity_shared = wa::crypto::x25519(primary_identity.priv, companion_identity);
    const Bytes ikm = concat({eph_shared, identity_shared, p.subspan(64, 32)});
    return wa::crypto::key32_from(wa::crypto::hkdf_sha256(ikm, {}, wa::crypto::view("adv_secret"), 32), "adv secret");
  } catch (const wa::crypto::CryptoError& e) {
    throw std::invalid_argument(std::string("pair code keys: ") + e.what());
  }
}

}  // namespace wa::sim
