#include "core/crypto/signal_context.h"

#include <cstring>
#include <memory>
#include <string>

#include <signal_protocol.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "core/crypto/aes.h"
#include "core/crypto/crypto_error.h"
#include "core/crypto/openssl_handles.h"

namespace wa::crypto {

// Callbacks for libsignal. Each returns SG_SUCCESS or a negative SG_ERR_*; exceptions must not
// cross the C boundary.
struct SignalContextCallbacks {
  static int random(uint8_t* data, size_t len, void*) {
    return RAND_bytes(data, static_cast<int>(len)) == 1 ? SG_SUCCESS : SG_ERR_UNKNOWN;
  }

  static int hmac_init(void** hmac_context, const uint8_t* key, size_t key_len, void*) {
    EvpMac mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
    if (!mac) return SG_ERR_UNKNOWN;
    EvpMacCtx ctx(EVP_MAC_CTX_new(mac.get()));
    if (!ctx) return SG_ERR_NOMEM;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    static const uint8_t empty = 0;
    if (EVP_MAC_init(ctx.get(), key_len ? key : &empty, key_len, params) != 1) return SG_ERR_UNKNOWN;
    *hmac_context = ctx.release();  // owned by libsignal until hmac_cleanup
    return SG_SUCCESS;
  }
  static int hmac_update(void* hmac_context, const uint8_t* data, size_t len, void*) {
    return EVP_MAC_update(static_cast<EVP_MAC_CTX*>(hmac_context), data, len) == 1 ? SG_SUCCESS : SG_ERR_UNKNOWN;
  }
  static int hmac_final(void* hmac_context, signal_buffer** output, void*) {
    uint8_t md[32];
    size_t len = 0;
    if (EVP_MAC_final(static_cast<EVP_MAC_CTX*>(hmac_context), md, &len, sizeof md) != 1) return SG_ERR_UNKNOWN;
    *output = signal_buffer_create(md, len);
    return *output ? SG_SUCCESS : SG_ERR_NOMEM;
  }
  static void hmac_cleanup(void* hmac_context, void*) {
    EvpMacCtx(static_cast<EVP_MAC_CTX*>(hmac_context));  // frees
  }

  static int sha512_init(void** digest_context, void*) {
    EvpMdCtx ctx(EVP_MD_CTX_new());
    if (!ctx) return SG_ERR_NOMEM;
    if (EVP_DigestInit_ex(ctx.get(), EVP_sha512(), nullptr) != 1) return SG_ERR_UNKNOWN;
    *digest_context = ctx.release();
    return SG_SUCCESS;
  }
  static int sha512_update(void* digest_context, const uint8_t* data, size_t len, void*) {
    return EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(digest_context), data, len) == 1 ? SG_SUCCESS : SG_ERR_UNKNOWN;
  }
  static int sha512_final(void* digest_context, signal_buffer** output, void*) {
    auto* ctx = static_cast<EVP_MD_CTX*>(digest_context);
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx, md, &len) != 1) return SG_ERR_UNKNOWN;
    // The library reuses the context after final.
    if (EVP_DigestInit_ex(ctx, EVP_sha512(), nullptr) != 1) return SG_ERR_UNKNOWN;
    *output = signal_buffer_create(md, len);
    return *output ? SG_SUCCESS : SG_ERR_NOMEM;
  }
  static void sha512_cleanup(void* digest_context, void*) { EvpMdCtx(static_cast<EVP_MD_CTX*>(digest_context)); }

  static int cipher(signal_buffer** output, int cipher, const uint8_t* key, size_t key_len, const uint8_t* iv,
                    size_t iv_len, const uint8_t* in, size_t in_len, bool encrypt) {
    try {
      ByteView k(key, key_len), v(iv, iv_len), data(in, in_len);
      Bytes out;
      if (cipher == SG_CIPHER_AES_CBC_PKCS5) {
        out = encrypt ? aes_cbc_encrypt(k, v, data) : aes_cbc_decrypt(k, v, data);
      } else if (cipher == SG_CIPHER_AES_CTR_NOPADDING) {
        out = aes_ctr(k, v, data);
      } else {
        return SG_ERR_UNKNOWN;
      }
      *output = signal_buffer_create(out.data(), out.size());
      return *output ? SG_SUCCESS : SG_ERR_NOMEM;
    } catch (const std::exception&) {
      return SG_ERR_UNKNOWN;
    }
  }
  static int encrypt(signal_buffer** output, int c, const uint8_t* key, size_t key_len, const uint8_t* iv,
                     size_t iv_len, const uint8_t* in, size_t in_len, void*) {
    return cipher(output, c, key, key_len, iv, iv_len, in, in_len, true);
  }
  static int decrypt(signal_buffer** output, int c, const uint8_t* key, size_t key_len, const uint8_t* iv,
                     size_t iv_len, const uint8_t* in, size_t in_len, void*) {
    return cipher(output, c, key, key_len, iv, iv_len, in, in_len, false);
  }

  static void lock(void* user_data) { static_cast<SignalContext*>(user_data)->mutex_.lock(); }
  static void unlock(void* user_data) { static_cast<SignalContext*>(user_data)->mutex_.unlock(); }
};

SignalContext::SignalContext() {
  using C = SignalContextCallbacks;
  // The lock callbacks receive this user_data (not the provider's).
  if (signal_context_create(&ctx_, this) != SG_SUCCESS) throw CryptoError("signal_context_create failed");
  signal_crypto_provider provider{};
  provider.random_func = C::random;
  provider.hmac_sha256_init_func = C::hmac_init;
  provider.hmac_sha256_update_func = C::hmac_update;
  provider.hmac_sha256_final_func = C::hmac_final;
  provider.hmac_sha256_cleanup_func = C::hmac_cleanup;
  provider.sha512_digest_init_func = C::sha512_init;
  provider.sha512_digest_update_func = C::sha512_update;
  provider.sha512_digest_final_func = C::sha512_final;
  provider.sha512_digest_cleanup_func = C::sha512_cleanup;
  provider.encrypt_func = C::encrypt;
  provider.decrypt_func = C::decrypt;
  provider.user_data = nullptr;
  if (signal_context_set_crypto_provider(ctx_, &provider) != SG_SUCCESS ||
      signal_context_set_locking_functions(ctx_, C::lock, C::unlock) != SG_SUCCESS) {
    signal_context_destroy(ctx_);
    ctx_ = nullptr;
    throw CryptoError("signal_context setup failed");
  }
}

SignalContext::~SignalContext() {
  if (ctx_) signal_context_destroy(ctx_);
}

SignalContext& SignalContext::shared() {
  static SignalContext instance;
  return instance;
}

}  // namespace wa::crypto
