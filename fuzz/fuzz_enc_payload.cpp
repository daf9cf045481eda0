// libFuzzer target for <enc> payloads through our Signal layer and libsignal-protocol-c's
// deserializers: byte 0 selects pkmsg / msg / skmsg / SKDM, the rest is the ciphertext. A fresh
// in-memory store (fixed keys, one-time pre-key 1) per input. Every failure must be a SignalError
// or CryptoError; anything else (or a crash) is a finding.
#include <cstddef>
#include <cstdint>

#include "core/crypto/crypto_error.h"
#include "core/signal/group_cipher.h"
#include "core/signal/padding.h"
#include "core/signal/session_cipher.h"
#include "tests/core_signal/memory_signal_store.h"

namespace sig = wa::signal;
namespace crypto = wa::crypto;

namespace {

crypto::KeyPair fixed_pair(std::uint8_t seed) {
  crypto::Key32 priv{};
  for (std::size_t i = 0; i < priv.size(); ++i) priv[i] = static_cast<std::uint8_t>(seed + i * 7);
  return crypto::KeyPair::from_private(priv);
}

const wa::test::MemorySignalStore& base_store() {
  static const wa::test::MemorySignalStore s = [] {
    wa::test::MemorySignalStore m;
    m.local.identity = fixed_pair(1);
    m.local.registration_id = 242;
    m.signed_pre_key.id = 1;
    m.signed_pre_key.pair = fixed_pair(2);
    crypto::Bytes msg{0x05};
    msg.insert(msg.end(), m.signed_pre_key.pair.pub.begin(), m.signed_pre_key.pair.pub.end());
    m.signed_pre_key.signature = crypto::xeddsa_sign(m.local.identity.priv, msg);
    m.pre_keys[1] = fixed_pair(3);
    return m;
  }();
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static crypto::SignalContext ctx;
  wa::test::MemorySignalStore store = base_store();
  sig::ProtocolStore proto(ctx, store.stores());
  const crypto::ByteView payload(data + 1, size - 1);
  const sig::Address peer{"15550002222", 0};
  const sig::SenderKeyName group{"120363000000000001@g.us", peer};
  try {
    crypto::Bytes plain;
    switch (data[0] % 4) {
      case 0: plain = sig::decrypt(proto, peer, sig::CiphertextType::pkmsg, payload); break;
      case 1: plain = sig::decrypt(proto, peer, sig::CiphertextType::msg, payload); break;
      case 2: plain = sig::group_decrypt(proto, group, payload); break;
      case 3: sig::process_sender_key_distribution(proto, group, payload); return 0;
    }
    try {
      (void)sig::unpad(plain);
    } catch (const sig::PaddingError&) {
    }
  } catch (const sig::SignalError&) {
  } catch (const crypto::CryptoError&) {
  }
  return 0;
}
