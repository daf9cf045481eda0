#include "core/client/device.h"

#include "core/crypto/random.h"
#include "core/crypto/xeddsa.h"

namespace wa::client {

Bytes sign_pre_key(const KeyPair& identity, const Key32& spk_pub) {
  Bytes msg;
  msg.reserve(33);
  msg.push_back(0x05);  // DJB key type prefix, as Signal serialises public keys
  msg.insert(msg.end(), spk_pub.begin(), spk_pub.end());
  return crypto::xeddsa_sign(identity.priv, msg);
}

DeviceKeys DeviceKeys::generate() {
  DeviceKeys d;
  d.noise_key = KeyPair::generate();
  d.identity_key = KeyPair::generate();
  d.signed_pre_key.id = 1;
  d.signed_pre_key.pair = KeyPair::generate();
  d.signed_pre_key.signature = sign_pre_key(d.identity_key, d.signed_pre_key.pair.pub);
  Bytes r = crypto::random_bytes(4);
  // whatsmeow uses a random uint32; 0 is avoided because Signal treats it as "unset".
  d.registration_id = (std::uint32_t{r[0]} << 24 | std::uint32_t{r[1]} << 16 | std::uint32_t{r[2]} << 8 | r[3]);
  if (d.registration_id == 0) d.registration_id = 1;
  crypto::random_fill(d.adv_secret);
  return d;
}

}  // namespace wa::client
