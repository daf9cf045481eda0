// The server's Noise certificate chain (transport reference §3): root -> intermediate -> leaf,
// XEdDSA signatures over the raw serialized Details. verify_cert_chain() is what the client
// runs on the decrypted ServerHello payload; issue_cert_chain() is what wasim serves.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include "core/crypto/bytes.h"
#include "core/crypto/x25519.h"

namespace wa::socket {

using crypto::ByteView;
using crypto::Bytes;
using crypto::Key32;

// WhatsApp's production root (whatsmeow WACertPubKey), a Curve25519 public key.
inline constexpr char kWaRootPublicKeyHex[] = "142375574d0a587166aae71ebe516437c4a28b73e3695c6ce1f7f9545da8ee6b";
// Serial of the root, which the intermediate names as its issuer.
inline constexpr std::uint32_t kWaRootIssuerSerial = 0;
inline constexpr std::size_t kMaxCertChainSize = 8192;

Key32 wa_production_root_key();

class CertChainError : public std::runtime_error {
 public:
  explicit CertChainError(const std::string& what) : std::runtime_error("certificate chain: " + what) {}
};

struct VerifiedCertChain {
  std::uint32_t intermediate_serial = 0;
  std::uint32_t leaf_serial = 0;
  std::uint64_t leaf_not_after = 0;
};

// Throws CertChainError naming the first failed check: missing parts, bad signature, issuer
// serials, key sizes, validity windows (now_unix in seconds), leaf key != server static key.
VerifiedCertChain verify_cert_chain(ByteView chain, const Key32& server_static, const Key32& trusted_root,
                                    std::uint64_t now_unix);

struct CertIssueOptions {
  std::uint32_t intermediate_serial = 1;
  std::uint32_t intermediate_issuer_serial = kWaRootIssuerSerial;
  std::uint32_t leaf_serial = 2;
  // Defaults to intermediate_serial when not set.
  std::optional<std::uint32_t> leaf_issuer_serial;
  std::uint64_t not_before = 0;
  std::uint64_t not_after = 0;
};

// Serialized CertChain: a fresh intermediate key signed by `root`, and a leaf for
// `server_static_pub` signed by the intermediate. Both share the validity window in `opts`.
Bytes issue_cert_chain(const crypto::KeyPair& root, const Key32& server_static_pub, const CertIssueOptions& opts);

}  // namespace wa::socket
