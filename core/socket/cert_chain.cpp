#include "core/socket/cert_chain.h"

#include "core/crypto/xeddsa.h"
#include "wa_handshake.pb.h"

namespace wa::socket {

using CertDetails = wa::proto::CertChain::NoiseCertificate::Details;

Key32 wa_production_root_key() { return crypto::key32_from_hex(kWaRootPublicKeyHex, "production root key"); }

namespace {

CertDetails parse_details(const std::string& raw, const char* which) {
  CertDetails d;
  if (!d.ParseFromString(raw)) throw CertChainError(std::string(which) + " details do not parse");
  if (d.key().size() != 32) {
    throw CertChainError(std::string(which) + " key is " + std::to_string(d.key().size()) + " bytes, want 32");
  }
  return d;
}

void check_validity(const CertDetails& d, std::uint64_t now, const char* which) {
  if (d.has_not_before() && now < d.not_before()) {
    throw CertChainError(std::string(which) + " not valid before " + std::to_string(d.not_before()) + " (now " +
                         std::to_string(now) + ")");
  }
  if (d.has_not_after() && now > d.not_after()) {
    throw CertChainError(std::string(which) + " expired at " + std::to_string(d.not_after()) + " (now " +
                         std::to_string(now) + ")");
  }
}

}  // namespace

VerifiedCertChain verify_cert_chain(ByteView chain_bytes, const Key32& server_static, const Key32& trusted_root,
                                    std::uint64_t now) {
  if (chain_bytes.size() > kMaxCertChainSize) {
    throw CertChainError("payload of " + std::to_string(chain_bytes.size()) + " bytes is too large");
  }
  wa::proto::CertChain chain;
  if (!chain.ParseFromArray(chain_bytes.data(), static_cast<int>(chain_bytes.size()))) {
    throw CertChainError("payload is not a CertChain");
  }
  const auto& leaf = chain.leaf();
  const auto& inter = chain.intermediate();
  if (!chain.has_leaf() || !chain.has_intermediate() || !leaf.has_details() || !inter.has_details() ||
      !leaf.has_signature() || !inter.has_signature()) {
    throw CertChainError("leaf or intermediate certificate incomplete");
  }
  if (leaf.signature().size() != 64 || inter.signature().size() != 64) {
    throw CertChainError("signature is not 64 bytes");
  }
  if (!crypto::xeddsa_verify(trusted_root, crypto::view(inter.details()), crypto::view(inter.signature()))) {
    throw CertChainError("intermediate certificate is not signed by the trusted root");
  }
  CertDetails id = parse_details(inter.details(), "intermediate");
  if (id.issuer_serial() != kWaRootIssuerSerial) {
    throw CertChainError("intermediate issuer serial " + std::to_string(id.issuer_serial()) + " is not the root's (" +
                         std::to_string(kWaRootIssuerSerial) + ")");
  }
  Key32 inter_key = crypto::key32_from(crypto::view(id.key()), "intermediate key");
  if (!crypto::xeddsa_verify(inter_key, crypto::view(leaf.details()), crypto::view(leaf.signature()))) {
    throw CertChainError("leaf certificate is not signed by the intermediate");
  }
  check_validity(id, now, "intermediate certificate");
  CertDetails ld = parse_details(leaf.details(), "leaf");
  if (ld.issuer_serial() != id.serial()) {
    throw CertChainError("leaf issuer serial " + std::to_string(ld.issuer_serial()) +
                         " does not match the intermediate serial " + std::to_string(id.serial()));
  }
  if (!crypto::equal_ct(crypto::view(ld.key()), server_static)) {
    throw CertChainError("leaf key does not match the server's static key");
  }
  check_validity(ld, now, "leaf certificate");
  return VerifiedCertChain{id.serial(), ld.serial(), ld.not_after()};
}

Bytes issue_cert_chain(const crypto::KeyPair& root, const Key32& server_static_pub, const CertIssueOptions& opts) {
  crypto::KeyPair inter_kp = crypto::KeyPair::generate();

  CertDetails id;
  id.set_serial(opts.intermediate_serial);
  id.set_issuer_serial(opts.intermediate_issuer_serial);
  id.set_key(inter_kp.pub.data(), inter_kp.pub.size());
  id.set_not_before(opts.not_before);
  id.set_not_after(opts.not_after);
  std::string id_raw = id.SerializeAsString();

  CertDetails ld;
  ld.set_serial(opts.leaf_serial);
  ld.set_issuer_serial(opts.leaf_issuer_serial.value_or(opts.intermediate_serial));
  ld.set_key(server_static_pub.data(), server_static_pub.size());
  ld.set_not_before(opts.not_before);
  ld.set_not_after(opts.not_after);
  std::string ld_raw = ld.SerializeAsString();

  wa::proto::CertChain chain;
  auto* inter = chain.mutable_intermediate();
  inter->set_details(id_raw);
  inter->set_signature(crypto::to_string(crypto::xeddsa_sign(root.priv, crypto::view(id_raw))));
  auto* leaf = chain.mutable_leaf();
  leaf->set_details(ld_raw);
  leaf->set_signature(crypto::to_string(crypto::xeddsa_sign(inter_kp.priv, crypto::view(ld_raw))));
  return crypto::to_bytes(chain.SerializeAsString());
}

}  // namespace wa::socket
