#include "core/crypto/xeddsa.h"

#include <memory>

#include <curve.h>
#include <signal_protocol.h>

#include "core/crypto/crypto_error.h"
#include "core/crypto/signal_context.h"

namespace wa::crypto {

namespace {

struct SignalUnref {
  void operator()(void* p) const { signal_type_unref(static_cast<signal_type_base*>(p)); }
};
struct SignalBufferFree {
  void operator()(signal_buffer* b) const { signal_buffer_free(b); }
};
using PublicKey = std::unique_ptr<ec_public_key, SignalUnref>;
using PrivateKey = std::unique_ptr<ec_private_key, SignalUnref>;
using SignalBuffer = std::unique_ptr<signal_buffer, SignalBufferFree>;

}  // namespace

Bytes xeddsa_sign(const Key32& priv, ByteView message) {
  signal_context* ctx = SignalContext::shared().get();
  ec_private_key* raw_key = nullptr;
  if (curve_decode_private_point(&raw_key, priv.data(), priv.size(), ctx) != 0) {
    throw CryptoError("XEdDSA sign: bad private key");
  }
  PrivateKey key(raw_key);
  signal_buffer* raw_sig = nullptr;
  if (curve_calculate_signature(ctx, &raw_sig, key.get(), message.data(), message.size()) != 0 || !raw_sig) {
    throw CryptoError("XEdDSA sign failed");
  }
  SignalBuffer sig(raw_sig);
  const uint8_t* data = signal_buffer_data(sig.get());
  return Bytes(data, data + signal_buffer_len(sig.get()));
}

bool xeddsa_verify(const Key32& pub, ByteView message, ByteView signature) {
  if (signature.size() != kSignatureSize) return false;
  // libsignal wants the serialized form: DJB type byte 0x05, then the 32-byte key.
  std::uint8_t serialized[33];
  serialized[0] = 0x05;
  std::copy(pub.begin(), pub.end(), serialized + 1);
  ec_public_key* raw_key = nullptr;
  if (curve_decode_point(&raw_key, serialized, sizeof serialized, SignalContext::shared().get()) != 0) return false;
  PublicKey key(raw_key);
  return curve_verify_signature(key.get(), message.data(), message.size(), signature.data(), signature.size()) == 1;
}

}  // namespace wa::crypto
