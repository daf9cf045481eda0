#include "core/signal/signed_records.h"

#include <algorithm>
#include <cstring>

#include <session_pre_key.h>

#include "core/crypto/crypto_error.h"

namespace wa::signal {

namespace {
void check(int rc, const char* what) {
  if (rc < 0)
    throw crypto::CryptoError(std::string(what) + " failed (libsignal error " + std::to_string(rc) + ")");
}
Bytes take(lsc::Buffer b) {
  return Bytes(signal_buffer_data(b.get()), signal_buffer_data(b.get()) + signal_buffer_len(b.get()));
}
}  // namespace

Bytes djb_public(const Key32& key) {
  Bytes out(33);
  out[0] = 0x05;
  std::copy(key.begin(), key.end(), out.begin() + 1);
  return out;
}

lsc::Ref<ec_public_key> decode_public_key(signal_context* ctx, const Key32& key) {
  auto djb = djb_public(key);
  ec_public_key* k = nullptr;
  check(curve_decode_point(&k, djb.data(), djb.size(), ctx), "decode public key");
  return lsc::Ref<ec_public_key>(k);
}

lsc::Ref<ec_key_pair> decode_key_pair(signal_context* ctx, const KeyPair& pair) {
  auto pub = decode_public_key(ctx, pair.pub);
  ec_private_key* priv_raw = nullptr;
  check(curve_decode_private_point(&priv_raw, pair.priv.data(), pair.priv.size(), ctx), "decode private key");
  lsc::Ref<ec_private_key> priv(priv_raw);
  ec_key_pair* kp = nullptr;
  check(ec_key_pair_create(&kp, pub.get(), priv.get()), "create key pair");  // takes its own references
  return lsc::Ref<ec_key_pair>(kp);
}

Key32 public_key_bytes(const ec_public_key* key) {
  signal_buffer* raw = nullptr;
  check(ec_public_key_serialize(&raw, key), "serialize public key");
  lsc::Buffer b(raw);
  if (signal_buffer_len(raw) != 33) throw crypto::CryptoError("public key is not 33 bytes");
  Key32 out{};
  std::memcpy(out.data(), signal_buffer_data(raw) + 1, 32);
  return out;
}

Bytes serialize_pre_key_record(signal_context* ctx, std::uint32_t id, const KeyPair& pair) {
  auto kp = decode_key_pair(ctx, pair);
  session_pre_key* pk_raw = nullptr;
  check(session_pre_key_create(&pk_raw, id, kp.get()), "create pre-key record");
  lsc::Ref<session_pre_key> pk(pk_raw);
  signal_buffer* out = nullptr;
  check(session_pre_key_serialize(&out, pk.get()), "serialize pre-key record");
  return take(lsc::Buffer(out));
}

Bytes serialize_signed_pre_key_record(signal_context* ctx, const SignedPreKeyPair& spk) {
  auto kp = decode_key_pair(ctx, spk.pair);
  session_signed_pre_key* raw = nullptr;
  check(session_signed_pre_key_create(&raw, spk.id, 0, kp.get(), spk.signature.data(), spk.signature.size()),
        "create signed pre-key record");
  lsc::Ref<session_signed_pre_key> rec(raw);
  signal_buffer* out = nullptr;
  check(session_signed_pre_key_serialize(&out, rec.get()), "serialize signed pre-key record");
  return take(lsc::Buffer(out));
}

}  // namespace wa::signal
