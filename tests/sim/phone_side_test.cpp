// The phone's side of linking as pure functions: QR strings (both forms, limits), the signed
// device identity and the check of the companion's answer, pair-code wrapping and the primary's
// finish; the phone registry's number rule and persistence.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <fstream>

#include "core/client/pair_code.h"
#include "core/client/pair_success.h"
#include "core/crypto/base64.h"
#include "core/crypto/random.h"
#include "core/crypto/xeddsa.h"
#include "sim/phone_registry.h"
#include "sim/phone_side.h"
#include "tests/sim/harness.h"
#include "wa_adv.pb.h"

using wa::crypto::Bytes;
using wa::crypto::KeyPair;
using namespace wa::sim;

namespace {

std::string b64(const wa::crypto::Key32& k) { return wa::crypto::base64_encode(k); }

wa::crypto::Key32 random_key() {
  wa::crypto::Key32 k{};
  wa::crypto::random_fill(k);
  return k;
}

}  // namespace

TEST_CASE("parse_qr reads the whatsmeow and the Baileys 6 form and refuses the rest", "[sim][phone]") {
  const auto n = random_key(), i = random_key(), a = random_key();
  auto q = parse_qr("https://wa.me/settings/linked_devices#2@abc=," + b64(n) + "," + b64(i) + "," + b64(a) + ",9");
  CHECK(q.ref == "2@abc=");
  CHECK(q.noise_pub == n);
  CHECK(q.identity_pub == i);
  CHECK(q.adv_secret == a);
  CHECK(q.platform == '9');
  auto q6 = parse_qr("2@x," + b64(n) + "," + b64(i) + "," + b64(a));
  CHECK(q6.platform == 0);
  CHECK(q6.ref == "2@x");
  for (const std::string& bad : {std::string(""), std::string("2@x"), "2@x," + b64(n) + "," + b64(i),
                                "," + b64(n) + "," + b64(i) + "," + b64(a),
                                "2@x,AAAA," + b64(i) + "," + b64(a),
                                "2@x," + b64(n) + "," + b64(i) + "," + b64(a) + ",99",
                                "2@x," + b64(n) + "," + b64(i) + "," + b64(a) + ",9,extra",
                                "2@x," + b64(n) + ",!!!," + b64(a),
                                std::string(3000, 'A')}) {
    INFO(bad.substr(0, 80));
    CHECK_THROWS_AS(parse_qr(bad), std::invalid_argument);
  }
}

TEST_CASE("the signed identity passes the client's own pair-success check, and tampering is caught", "[sim][phone]") {
  const auto account = KeyPair::generate();
  const auto companion = KeyPair::generate();
  const auto adv = random_key();
  auto si = make_signed_identity(account, adv, companion.pub, 1234, 7);
  // The client library (core/client) accepts it and signs it back.
  auto paired = wa::client::verify_pair_success(si.container, adv, companion);
  CHECK(paired.key_index == 7);
  CHECK(paired.account_signature_key == account.pub);
  CHECK_FALSE(check_device_sign(paired.reply, si.details, companion.pub, account.pub).has_value());
  // Another adv secret: the HMAC no longer matches.
  CHECK_THROWS_AS(wa::client::verify_pair_success(si.container, random_key(), companion), wa::client::PairError);
  // The device signature must be the companion's, over our details, without the account key.
  auto other = KeyPair::generate();
  CHECK(check_device_sign(paired.reply, si.details, other.pub, account.pub).has_value());
  CHECK(check_device_sign(paired.reply, si.details, companion.pub, other.pub).has_value());
  Bytes changed = si.details;
  changed.push_back(0);
  CHECK(check_device_sign(paired.reply, changed, companion.pub, account.pub).has_value());
  CHECK(check_device_sign(paired.account, si.details, companion.pub, account.pub).has_value());  // still has the key
  CHECK(check_device_sign(Bytes{0xff, 0xff, 0xff}, si.details, companion.pub, account.pub).has_value());
  CHECK(check_device_sign(Bytes(20000, 0), si.details, companion.pub, account.pub).has_value());
}

TEST_CASE("pair code: the primary's finish agrees with the companion's, a wrong code is refused", "[sim][phone]") {
  const std::string code = wa::client::new_linking_code();
  const auto ce = KeyPair::generate(), pe = KeyPair::generate();
  const auto companion_identity = KeyPair::generate(), primary_identity = KeyPair::generate();
  const Bytes wrapped_ce = wa::client::wrap_ephemeral(code, ce.pub, wa::crypto::random_bytes(32), wa::crypto::random_bytes(16));
  // wasim wraps and unwraps with core's code (one implementation; Baileys is the outside check).
  CHECK(wa::client::unwrap_ephemeral(code, wrapped_ce) == ce.pub);
  const Bytes wrapped_pe = wa::client::wrap_ephemeral(code, pe.pub, wa::crypto::random_bytes(32), wa::crypto::random_bytes(16));
  auto fin = wa::client::companion_finish(code, ce, wrapped_pe, primary_identity.pub, companion_identity,
                                          wa::crypto::random_bytes(32), wa::crypto::random_bytes(32), wa::crypto::random_bytes(12));
  CHECK(primary_finish(pe, ce.pub, primary_identity, companion_identity.pub, fin.wrapped_key_bundle) == fin.adv_secret);
  // A companion that typed another code unwrapped another primary key: the bundle does not open.
  const std::string wrong = code == "11111111" ? "22222222" : "11111111";
  auto bad = wa::client::companion_finish(wrong, ce, wrapped_pe, primary_identity.pub, companion_identity,
                                          wa::crypto::random_bytes(32), wa::crypto::random_bytes(32), wa::crypto::random_bytes(12));
  CHECK_THROWS_AS(primary_finish(pe, ce.pub, primary_identity, companion_identity.pub, bad.wrapped_key_bundle),
                  std::invalid_argument);
  CHECK_THROWS_AS(primary_finish(pe, ce.pub, primary_identity, KeyPair::generate().pub, fin.wrapped_key_bundle),
                  std::invalid_argument);
  CHECK_THROWS_AS(primary_finish(pe, ce.pub, primary_identity, companion_identity.pub, Bytes(10, 0)), std::invalid_argument);
}

TEST_CASE("phone numbers and the phone registry's persistence", "[sim][phone][state]") {
  CHECK(parse_phone("+15550001") == 15550001ull);
  CHECK(parse_phone("+1 555-0001") == 15550001ull);
  CHECK(parse_phone("15550001") == 15550001ull);
  for (const char* bad : {"", "+", "123456", "+0155500001", "1555O001", "++15550001", "1234567890123456", "1555\n0001"})
    CHECK_FALSE(parse_phone(bad));
  wa::simtest::TempDir dir;
  KeyPair account;
  {
    PhoneRegistry reg(dir.path());
    bool created = false;
    account = reg.create(15550001, created).account;
    CHECK(created);
    reg.create(15550001, created);
    CHECK_FALSE(created);
    CHECK(reg.allocate_device(15550001) == 1u);
    CHECK(reg.allocate_device(15550001) == 2u);
    CHECK_FALSE(reg.allocate_device(15559999));
  }
  struct stat st{};
  REQUIRE(::stat((dir.path() / "phones.tsv").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  PhoneRegistry again(dir.path());
  auto p = again.find(15550001);
  REQUIRE(p);
  CHECK(p->account.pub == account.pub);
  CHECK(again.allocate_device(15550001) == 3u);  // ids are never reused
  {
    std::ofstream out(dir.path() / "phones.tsv", std::ios::app);
    out << "15550002\tnothex\t1\t0\n";
  }
  CHECK_THROWS_AS(PhoneRegistry(dir.path()), std::runtime_error);
}
