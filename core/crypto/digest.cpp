#include "core/crypto/digest.h"

#include <memory>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "core/crypto/crypto_error.h"
#include "core/crypto/openssl_handles.h"

namespace wa::crypto {

namespace {

template <std::size_t N>
void digest_into(const EVP_MD* md, std::initializer_list<ByteView> parts, std::uint8_t* out, const char* what) {
  EvpMdCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1) throw_openssl_error(what);
  for (ByteView p : parts) {
    if (!p.empty() && EVP_DigestUpdate(ctx.get(), p.data(), p.size()) != 1) throw_openssl_error(what);
  }
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), out, &len) != 1 || len != N) throw_openssl_error(what);
}

// EVP_MAC wants a non-null key pointer even for an empty key.
const std::uint8_t* key_ptr(ByteView key) {
  static const std::uint8_t empty = 0;
  return key.empty() ? &empty : key.data();
}

}  // namespace

Key32 sha256(ByteView data) {
  Key32 out;
  digest_into<32>(EVP_sha256(), {data}, out.data(), "SHA-256");
  return out;
}

Key32 sha256(ByteView a, ByteView b) {
  Key32 out;
  digest_into<32>(EVP_sha256(), {a, b}, out.data(), "SHA-256");
  return out;
}

Bytes sha512(ByteView data) {
  Bytes out(64);
  digest_into<64>(EVP_sha512(), {data}, out.data(), "SHA-512");
  return out;
}

Bytes sha1(ByteView data) {
  Bytes out(20);
  digest_into<20>(EVP_sha1(), {data}, out.data(), "SHA-1");
  return out;
}

Bytes md5(ByteView data) {
  Bytes out(16);
  digest_into<16>(EVP_md5(), {data}, out.data(), "MD5");
  return out;
}

struct HmacSha256::Impl {
  EvpMacCtx ctx;
};

HmacSha256::HmacSha256(ByteView key) {
  EvpMac mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (!mac) throw_openssl_error("HMAC fetch");
  auto impl = std::make_unique<Impl>();
  impl->ctx.reset(EVP_MAC_CTX_new(mac.get()));
  if (!impl->ctx) throw_openssl_error("HMAC context");
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(impl->ctx.get(), key_ptr(key), key.size(), params) != 1) throw_openssl_error("HMAC init");
  impl_ = std::move(impl);
}

HmacSha256::~HmacSha256() = default;

void HmacSha256::update(ByteView data) {
  if (!data.empty() && EVP_MAC_update(impl_->ctx.get(), data.data(), data.size()) != 1) {
    throw_openssl_error("HMAC update");
  }
}

Key32 HmacSha256::final() {
  Key32 out;
  std::size_t len = 0;
  if (EVP_MAC_final(impl_->ctx.get(), out.data(), &len, out.size()) != 1 || len != out.size()) {
    throw_openssl_error("HMAC final");
  }
  return out;
}

Key32 hmac_sha256(ByteView key, ByteView data) {
  HmacSha256 h(key);
  h.update(data);
  return h.final();
}

Bytes hkdf_sha256(ByteView ikm, ByteView salt, ByteView info, std::size_t length) {
  if (length > 255 * 32) throw CryptoError("HKDF: output length " + std::to_string(length) + " exceeds 255*32");
  // Written out from RFC 5869 rather than EVP_KDF: the Noise split uses an empty IKM, which the
  // OpenSSL 3.0 HKDF provider rejects as a missing key.
  static const Key32 zero_salt{};
  Key32 prk = hmac_sha256(salt.empty() ? ByteView(zero_salt) : salt, ikm);
  Bytes out;
  out.reserve(length);
  Key32 t{};
  std::size_t t_len = 0;
  for (std::uint8_t i = 1; out.size() < length; ++i) {
    HmacSha256 h(prk);
    h.update(ByteView(t.data(), t_len));
    h.update(info);
    h.update(ByteView(&i, 1));
    t = h.final();
    t_len = t.size();
    std::size_t take = std::min(t.size(), length - out.size());
    out.insert(out.end(), t.begin(), t.begin() + static_cast<std::ptrdiff_t>(take));
  }
  OPENSSL_cleanse(prk.data(), prk.size());
  OPENSSL_cleanse(t.data(), t.size());
  return out;
}

}  // namespace wa::crypto
