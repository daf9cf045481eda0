// unique_ptr aliases for the OpenSSL handles this layer uses, so every handle is freed on all paths.
#pragma once

#include <memory>

#include <openssl/evp.h>

namespace wa::crypto {

struct EvpPkeyFree { void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); } };
struct EvpPkeyCtxFree { void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); } };
struct EvpCipherCtxFree { void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); } };
struct EvpMdCtxFree { void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); } };
struct EvpMacFree { void operator()(EVP_MAC* p) const { EVP_MAC_free(p); } };
struct EvpMacCtxFree { void operator()(EVP_MAC_CTX* p) const { EVP_MAC_CTX_free(p); } };

using EvpPkey = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;
using EvpPkeyCtx = std::unique_ptr<EVP_PKEY_CTX, EvpPkeyCtxFree>;
using EvpCipherCtx = std::unique_ptr<EVP_CIPHER_CTX, EvpCipherCtxFree>;
using EvpMdCtx = std::unique_ptr<EVP_MD_CTX, EvpMdCtxFree>;
using EvpMac = std::unique_ptr<EVP_MAC, EvpMacFree>;
using EvpMacCtx = std::unique_ptr<EVP_MAC_CTX, EvpMacCtxFree>;

}  // namespace wa::crypto
