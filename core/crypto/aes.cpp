#include "core/crypto/aes.h"

#include <climits>
#include <string>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "core/crypto/crypto_error.h"
#include "core/crypto/openssl_handles.h"

namespace wa::crypto {

namespace {

int int_len(std::size_t n, const char* what) {
  if (n > static_cast<std::size_t>(INT_MAX) - 32) throw CryptoError(std::string(what) + ": input too large");
  return static_cast<int>(n);
}

const EVP_CIPHER* aes_cipher(std::size_t key_len, bool cbc, const char* what) {
  switch (key_len) {
    case 16: return cbc ? EVP_aes_128_cbc() : EVP_aes_128_ctr();
    case 24: return cbc ? EVP_aes_192_cbc() : EVP_aes_192_ctr();
    case 32: return cbc ? EVP_aes_256_cbc() : EVP_aes_256_ctr();
    default: throw CryptoError(std::string(what) + ": key must be 16, 24 or 32 bytes, got " + std::to_string(key_len));
  }
}

// One-shot EVP cipher run shared by CBC and CTR.
Bytes run_cipher(const EVP_CIPHER* cipher, ByteView key, ByteView iv, ByteView in, bool encrypt, const char* what) {
  if (iv.size() != 16) throw CryptoError(std::string(what) + ": IV must be 16 bytes, got " + std::to_string(iv.size()));
  EvpCipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx || EVP_CipherInit_ex(ctx.get(), cipher, nullptr, key.data(), iv.data(), encrypt ? 1 : 0) != 1) {
    throw_openssl_error(what);
  }
  Bytes out(in.size() + 16);
  int len = 0;
  int total = 0;
  if (!in.empty() && EVP_CipherUpdate(ctx.get(), out.data(), &len, in.data(), int_len(in.size(), what)) != 1) {
    throw_openssl_error(what);
  }
  total = len;
  if (EVP_CipherFinal_ex(ctx.get(), out.data() + total, &len) != 1) throw_openssl_error(what);
  total += len;
  out.resize(static_cast<std::size_t>(total));
  return out;
}

// What seal and open share: key and nonce checks, the cipher set up for one direction, the AAD.
EvpCipherCtx gcm_begin(ByteView key, ByteView nonce, ByteView aad, bool encrypt, const std::string& what) {
  if (key.size() != 32) throw CryptoError(what + ": key must be 32 bytes");
  if (nonce.size() != kGcmNonceSize) throw CryptoError(what + ": nonce must be 12 bytes");
  EvpCipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx ||
      EVP_CipherInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), nonce.data(), encrypt ? 1 : 0) != 1) {
    throw_openssl_error(what + " init");
  }
  int len = 0;
  if (!aad.empty() && EVP_CipherUpdate(ctx.get(), nullptr, &len, aad.data(), int_len(aad.size(), "AES-GCM aad")) != 1) {
    throw_openssl_error(what + " aad");
  }
  return ctx;
}

}  // namespace

Bytes aes256_gcm_seal(ByteView key, ByteView nonce, ByteView aad, ByteView plaintext) {
  EvpCipherCtx ctx = gcm_begin(key, nonce, aad, true, "AES-GCM seal");
  int len = 0;
  Bytes out(plaintext.size() + kGcmTagSize);
  int total = 0;
  if (!plaintext.empty() &&
      EVP_EncryptUpdate(ctx.get(), out.data(), &len, plaintext.data(), int_len(plaintext.size(), "AES-GCM seal")) != 1) {
    throw_openssl_error("AES-GCM seal");
  }
  total = plaintext.empty() ? 0 : len;
  if (EVP_EncryptFinal_ex(ctx.get(), out.data() + total, &len) != 1) throw_openssl_error("AES-GCM seal final");
  total += len;
  if (static_cast<std::size_t>(total) != plaintext.size()) throw CryptoError("AES-GCM seal: length mismatch");
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kGcmTagSize, out.data() + total) != 1) {
    throw_openssl_error("AES-GCM get tag");
  }
  return out;
}

Bytes aes256_gcm_open(ByteView key, ByteView nonce, ByteView aad, ByteView in) {
  EvpCipherCtx ctx = gcm_begin(key, nonce, aad, false, "AES-GCM open");
  if (in.size() < kGcmTagSize) {
    throw CryptoError("AES-GCM open: ciphertext of " + std::to_string(in.size()) + " bytes is shorter than the tag");
  }
  std::size_t ct_len = in.size() - kGcmTagSize;
  int len = 0;
  Bytes out(ct_len + kGcmTagSize);
  int total = 0;
  if (ct_len > 0 && EVP_DecryptUpdate(ctx.get(), out.data(), &len, in.data(), int_len(ct_len, "AES-GCM open")) != 1) {
    throw_openssl_error("AES-GCM open");
  }
  total = ct_len > 0 ? len : 0;
  // The tag is only read by the ctrl call; OpenSSL's API takes a non-const pointer.
  Bytes tag(in.begin() + static_cast<std::ptrdiff_t>(ct_len), in.end());
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kGcmTagSize, tag.data()) != 1) {
    throw_openssl_error("AES-GCM set tag");
  }
  if (EVP_DecryptFinal_ex(ctx.get(), out.data() + total, &len) != 1) {
    ERR_clear_error();
    throw CryptoError("AES-GCM open: authentication failed");
  }
  total += len;
  out.resize(static_cast<std::size_t>(total));
  return out;
}

Bytes aes_cbc_encrypt(ByteView key, ByteView iv, ByteView plaintext) {
  return run_cipher(aes_cipher(key.size(), true, "AES-CBC encrypt"), key, iv, plaintext, true, "AES-CBC encrypt");
}

Bytes aes_cbc_decrypt(ByteView key, ByteView iv, ByteView ciphertext) {
  return run_cipher(aes_cipher(key.size(), true, "AES-CBC decrypt"), key, iv, ciphertext, false, "AES-CBC decrypt");
}

Bytes aes_ctr(ByteView key, ByteView iv, ByteView data) {
  return run_cipher(aes_cipher(key.size(), false, "AES-CTR"), key, iv, data, true, "AES-CTR");
}

}  // namespace wa::crypto
