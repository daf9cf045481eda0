#include <catch2/catch.hpp>

#include "core/crypto/xeddsa.h"
#include "core/socket/cert_chain.h"
#include "wa_handshake.pb.h"

using namespace wa::socket;
using wa::crypto::KeyPair;

namespace {
constexpr std::uint64_t kNow = 1'800'000'000;
CertIssueOptions valid() {
  CertIssueOptions o;
  o.intermediate_serial = 7;
  o.leaf_serial = 8;
  o.not_before = kNow - 60;
  o.not_after = kNow + 60;
  return o;
}
}  // namespace

TEST_CASE("production root key constant", "[cert]") {
  CHECK(wa::crypto::to_hex(wa_production_root_key()) == kWaRootPublicKeyHex);
}

TEST_CASE("issued chain verifies", "[cert]") {
  KeyPair root = KeyPair::generate(), server = KeyPair::generate();
  Bytes chain = issue_cert_chain(root, server.pub, valid());
  VerifiedCertChain v = verify_cert_chain(chain, server.pub, root.pub, kNow);
  CHECK(v.intermediate_serial == 7);
  CHECK(v.leaf_serial == 8);
  CHECK(v.leaf_not_after == kNow + 60);
}

TEST_CASE("each chain failure has its own error", "[cert]") {
  KeyPair root = KeyPair::generate(), server = KeyPair::generate();
  auto fails_with = [&](const Bytes& chain, const char* text, std::uint64_t now = kNow) {
    CHECK_THROWS_WITH(verify_cert_chain(chain, server.pub, root.pub, now), Catch::Contains(text));
  };
  fails_with(issue_cert_chain(KeyPair::generate(), server.pub, valid()), "not signed by the trusted root");
  fails_with(issue_cert_chain(root, KeyPair::generate().pub, valid()), "leaf key does not match");
  auto o = valid();
  o.leaf_issuer_serial = 99;
  fails_with(issue_cert_chain(root, server.pub, o), "leaf issuer serial 99 does not match");
  o = valid();
  o.intermediate_issuer_serial = 5;
  fails_with(issue_cert_chain(root, server.pub, o), "intermediate issuer serial 5");
  Bytes good = issue_cert_chain(root, server.pub, valid());
  fails_with(good, "expired", kNow + 61);
  fails_with(good, "not valid before", kNow - 61);
  fails_with(Bytes{0xff, 0x01}, "not a CertChain");
  fails_with(Bytes(kMaxCertChainSize + 1), "too large");

  // Leaf signature tampered / leaf missing.
  wa::proto::CertChain c;
  REQUIRE(c.ParseFromArray(good.data(), static_cast<int>(good.size())));
  std::string sig = c.leaf().signature();
  sig[3] ^= 1;
  c.mutable_leaf()->set_signature(sig);
  fails_with(wa::crypto::to_bytes(c.SerializeAsString()), "leaf certificate is not signed by the intermediate");
  c.clear_leaf();
  fails_with(wa::crypto::to_bytes(c.SerializeAsString()), "incomplete");
}
