// QR strings and pair-success verification against a phone forged here (reference §6.3, §6.4).
#include <catch2/catch.hpp>

#include "core/client/device.h"
#include "core/client/pair_success.h"
#include "core/client/qr.h"
#include "core/crypto/base64.h"
#include "core/crypto/digest.h"
#include "core/crypto/random.h"
#include "core/crypto/xeddsa.h"
#include "tests/core_client/fake_phone.h"
#include "wa_adv.pb.h"

using namespace wa::client;
using wa::crypto::Bytes;
using wa::crypto::Key32;
using wa::clienttest::cat;
using Phone = wa::clienttest::FakePhone;

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out(1);
  for (char c : s) {
    if (c == sep) out.emplace_back();
    else out.back() += c;
  }
  return out;
}

}  // namespace

TEST_CASE("QR string has whatsmeow's current form", "[client][qr]") {
  auto dev = DeviceKeys::generate();
  const std::string ref = "2@AbC/def+ghi=";
  auto qr = make_qr_string(ref, dev.noise_key.pub, dev.identity_key.pub, dev.adv_secret);
  const std::string prefix = "https://wa.me/settings/linked_devices#";
  REQUIRE(qr.rfind(prefix, 0) == 0);
  auto parts = split(qr.substr(prefix.size()), ',');
  REQUIRE(parts.size() == 5);
  CHECK(parts[0] == ref);
  CHECK(wa::crypto::base64_decode(parts[1]) == Bytes(dev.noise_key.pub.begin(), dev.noise_key.pub.end()));
  CHECK(wa::crypto::base64_decode(parts[2]) == Bytes(dev.identity_key.pub.begin(), dev.identity_key.pub.end()));
  CHECK(wa::crypto::base64_decode(parts[3]) == Bytes(dev.adv_secret.begin(), dev.adv_secret.end()));
  for (int i = 1; i <= 3; ++i) {
    CHECK(parts[i].size() == 44);  // standard base64 of 32 bytes, with its '=' padding
    CHECK(parts[i].back() == '=');
  }
  CHECK(parts[4] == "9");
  CHECK_THROWS_AS(make_qr_string("", dev.noise_key.pub, dev.identity_key.pub, dev.adv_secret), std::invalid_argument);
  CHECK_THROWS_AS(make_qr_string("a,b", dev.noise_key.pub, dev.identity_key.pub, dev.adv_secret), std::invalid_argument);
}

TEST_CASE("QR rotation: first ref 60 s, later ones 20 s", "[client][qr]") {
  using std::chrono::milliseconds;
  CHECK(qr_timeout(0, milliseconds(60000), milliseconds(20000)) == milliseconds(60000));
  for (std::size_t i = 1; i < 6; ++i) CHECK(qr_timeout(i, milliseconds(60000), milliseconds(20000)) == milliseconds(20000));
}

TEST_CASE("device keys are created complete and self-consistent", "[client][device]") {
  auto d = DeviceKeys::generate();
  CHECK_FALSE(d.paired());
  CHECK(d.signed_pre_key.id == 1);
  CHECK(d.registration_id != 0);
  CHECK(KeyPair::from_private(d.noise_key.priv).pub == d.noise_key.pub);
  CHECK(KeyPair::from_private(d.identity_key.priv).pub == d.identity_key.pub);
  CHECK((d.identity_key.priv[0] & 7) == 0);  // clamped
  Bytes msg{0x05};
  msg.insert(msg.end(), d.signed_pre_key.pair.pub.begin(), d.signed_pre_key.pair.pub.end());
  CHECK(wa::crypto::xeddsa_verify(d.identity_key.pub, msg, d.signed_pre_key.signature));
  auto e = DeviceKeys::generate();
  CHECK(e.noise_key.pub != d.noise_key.pub);
  CHECK(e.adv_secret != d.adv_secret);
}

TEST_CASE("pair-success from a forged phone verifies and yields our device signature", "[client][pair]") {
  auto dev = DeviceKeys::generate();
  for (bool hosted_device : {false, true}) {
    for (bool hosted_account : {false, true}) {
      INFO("hosted_device " << hosted_device << " hosted_account " << hosted_account);
      Phone phone;
      phone.hosted_device = hosted_device;
      phone.hosted_account = hosted_account;
      auto res = verify_pair_success(phone.pair_success(dev.adv_secret, dev.identity_key.pub), dev.adv_secret, dev.identity_key);
      CHECK(res.key_index == 7);
      CHECK(res.account_signature_key == phone.account.pub);

      wa::proto::ADVSignedDeviceIdentity stored, reply;
      REQUIRE(stored.ParseFromArray(res.account.data(), int(res.account.size())));
      REQUIRE(reply.ParseFromArray(res.reply.data(), int(res.reply.size())));
      CHECK(stored.account_signature_key().size() == 32);
      CHECK_FALSE(reply.has_account_signature_key());  // left out of the reply, as whatsmeow does
      CHECK(reply.details() == stored.details());
      CHECK(reply.account_signature() == stored.account_signature());
      CHECK(reply.device_signature() == stored.device_signature());
      // The device signature is 06 01 || details || identity.pub || account key, under our identity key.
      const std::uint8_t p[2] = {0x06, 0x01};
      auto msg = cat({p, wa::crypto::view(stored.details()), dev.identity_key.pub, phone.account.pub});
      CHECK(wa::crypto::xeddsa_verify(dev.identity_key.pub, msg, wa::crypto::view(reply.device_signature())));
    }
  }
}

TEST_CASE("pair-success is refused with the codes the server expects", "[client][pair]") {
  auto dev = DeviceKeys::generate();
  Phone phone;
  auto expect = [&](const Bytes& in, const Key32& adv, int code, const std::string& text) {
    try {
      verify_pair_success(in, adv, dev.identity_key);
      FAIL("accepted");
    } catch (const PairError& e) {
      CHECK(e.code() == code);
      CHECK(e.text() == text);
    }
  };
  SECTION("another adv secret") {
    Key32 other{};
    wa::crypto::random_fill(other);
    expect(phone.pair_success(other, dev.identity_key.pub), dev.adv_secret, 401, "hmac-mismatch");
  }
  SECTION("signed for another companion identity") {
    auto other = KeyPair::generate();
    expect(phone.pair_success(dev.adv_secret, other.pub), dev.adv_secret, 401, "signature-mismatch");
  }
  SECTION("hosted prefix claimed but account signed with the plain one") {
    // The phone says the device is hosted, so the companion checks under 06 05; a signature made
    // under 06 00 must not pass.
    wa::proto::ADVDeviceIdentity d;
    d.set_key_index(1);
    d.set_device_type(wa::proto::HOSTED);
    const std::string details = d.SerializeAsString();
    const std::uint8_t plain[2] = {0x06, 0x00};
    auto sig = wa::crypto::xeddsa_sign(phone.account.priv, cat({plain, wa::crypto::view(details), dev.identity_key.pub}));
    wa::proto::ADVSignedDeviceIdentity s;
    s.set_details(details);
    s.set_account_signature_key(phone.account.pub.data(), 32);
    s.set_account_signature(wa::crypto::to_string(sig));
    wa::proto::ADVSignedDeviceIdentityHMAC h;
    h.set_details(s.SerializeAsString());
    auto mac = wa::crypto::hmac_sha256(dev.adv_secret, wa::crypto::view(h.details()));
    h.set_hmac(mac.data(), mac.size());
    expect(wa::crypto::to_bytes(h.SerializeAsString()), dev.adv_secret, 401, "signature-mismatch");
  }
  SECTION("garbage and oversized input") {
    expect(Bytes{}, dev.adv_secret, 500, "internal-error");
    expect(Bytes{0xff, 0xff, 0xff}, dev.adv_secret, 500, "internal-error");
    expect(Bytes(kMaxDeviceIdentitySize + 1, 0x0a), dev.adv_secret, 500, "internal-error");
  }
  SECTION("short account signature key") {
    wa::proto::ADVSignedDeviceIdentity s;
    wa::proto::ADVDeviceIdentity d;
    d.set_key_index(1);
    s.set_details(d.SerializeAsString());
    s.set_account_signature_key("short");
    s.set_account_signature(std::string(64, 'a'));
    wa::proto::ADVSignedDeviceIdentityHMAC h;
    h.set_details(s.SerializeAsString());
    auto mac = wa::crypto::hmac_sha256(dev.adv_secret, wa::crypto::view(h.details()));
    h.set_hmac(mac.data(), mac.size());
    expect(wa::crypto::to_bytes(h.SerializeAsString()), dev.adv_secret, 401, "signature-mismatch");
  }
}
