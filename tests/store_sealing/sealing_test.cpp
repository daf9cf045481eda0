// Key material sealed at rest (store/sealing.h): round trips through the device and Signal stores,
// tampered rows and rows copied to another account refused, a wrong KEK refused with an error that
// names the setting, rotation while a leader writes, and plain rows from before sealing.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "core/client/device.h"
#include "core/client/device_store.h"
#include "core/crypto/bytes.h"
#include "store/accounts.h"
#include "store/device_store.h"
#include "store/sealing.h"
#include "store/signal_store.h"
#include "store/webhooks.h"
#include "tests/store/test_db.h"

using namespace wa;

namespace {

constexpr const char* kJid = "15550001:7@s.whatsapp.net";

store::KekRing ring_of(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  return store::KekRing::parse(text, "--kek-file (WACONN_KEK_FILE) test");
}

// Installs a sealer for the test case and uninstalls it afterwards (other test cases run plain).
struct Installed {
  std::shared_ptr<store::Sealer> sealer;
  explicit Installed(store::KekRing ring, const std::string& url = {})
      : sealer(std::make_shared<store::Sealer>(std::move(ring), url)) {
    store::install_sealer(sealer);
  }
  ~Installed() { store::install_sealer(nullptr); }
};

std::shared_ptr<store::WriteFence> lease(pg::Connection& c, const std::string& business_id) {
  return std::make_shared<store::WriteFence>(business_id, store::begin_lease(c, business_id, "pod-a").epoch);
}

std::string one(pg::Connection& c, const char* sql, const std::vector<pg::Param>& params = {}) {
  auto r = c.exec("test: read one value", sql, params);
  REQUIRE(r.rows() == 1);
  return r.is_null(0, 0) ? std::string("NULL") : std::string(r.text(0, 0));
}

bool contains(const crypto::Bytes& hay, const crypto::Key32& needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

crypto::Bytes record(std::string_view s) {
  return crypto::to_bytes(s);
}

}  // namespace

TEST_CASE("sealing: device keys and pre-keys round-trip, and the table holds no private key",
          "[sealing][pg]") {
  test::TestDatabase db;
  Installed k(ring_of({store::KekRing::generate_line()}), db.url());
  auto c = db.connect();
  store::add_account(c, "acme", std::nullopt);
  store::PgDeviceStore s(c, lease(c, "acme"));
  const auto dev = client::DeviceKeys::generate();
  s.save_device(dev);
  std::vector<client::PreKey> pre;
  for (std::uint32_t i = 1; i <= 50; ++i) pre.push_back({i, crypto::KeyPair::generate(), false});
  s.save_pre_keys(pre);

  const auto loaded = s.load_device();
  REQUIRE(loaded);
  CHECK(loaded->noise_key.priv == dev.noise_key.priv);
  CHECK(loaded->identity_key.priv == dev.identity_key.priv);
  CHECK(loaded->signed_pre_key.pair.priv == dev.signed_pre_key.pair.priv);
  CHECK(loaded->adv_secret == dev.adv_secret);
  const auto keys = s.unuploaded_pre_keys(100);
  REQUIRE(keys.size() == pre.size());
  for (std::size_t i = 0; i < keys.size(); ++i) CHECK(keys[i].pair.priv == pre[i].pair.priv);

  // Every row names its data key, every value is the 61-byte sealed form, no private key is in it.
  CHECK(one(c, "SELECT data_key_id FROM wa_devices") == "1");
  CHECK(one(c, "SELECT count(*) FROM wa_device_pre_keys WHERE data_key_id = 1 AND length(priv) = 61") ==
        "50");
  auto r = c.exec("read the stored device",
                  "SELECT noise_priv, identity_priv, signed_pre_key_priv, adv_secret FROM wa_devices");
  CHECK_FALSE(contains(r.bytes(0, 0), dev.noise_key.priv));
  CHECK_FALSE(contains(r.bytes(0, 1), dev.identity_key.priv));
  CHECK_FALSE(contains(r.bytes(0, 2), dev.signed_pre_key.pair.priv));
  CHECK_FALSE(contains(r.bytes(0, 3), dev.adv_secret));
  auto p = c.exec("read the stored pre-keys", "SELECT priv FROM wa_device_pre_keys ORDER BY key_id");
  for (int i = 0; i < p.rows(); ++i)
    CHECK_FALSE(contains(p.bytes(i, 0), pre[static_cast<std::size_t>(i)].pair.priv));

  // Saving the same device again keeps its pre-keys (the replaced-device check opens the sealed key).
  s.save_device(dev);
  CHECK(one(c, "SELECT count(*) FROM wa_device_pre_keys") == "50");
  // A different device drops them.
  s.save_device(client::DeviceKeys::generate());
  CHECK(one(c, "SELECT count(*) FROM wa_device_pre_keys") == "0");
}

TEST_CASE("sealing: Signal sessions, sender keys and the local identity round-trip sealed", "[sealing][pg]") {
  test::TestDatabase db;
  Installed k(ring_of({store::KekRing::generate_line()}), db.url());
  auto c = db.connect();
  store::add_account(c, "acme", std::nullopt);
  auto fence = lease(c, "acme");
  store::PgDeviceStore dev_store(c, fence);
  const auto dev = client::DeviceKeys::generate();
  dev_store.save_device(dev);
  dev_store.save_pre_keys({{9, crypto::KeyPair::generate(), false}});

  store::PgSignalStore s(c, fence, kJid);
  const signal::Address bob{"15550002", 0};
  const auto session = record("session record of bob, which libsignal serialises");
  s.store_session(bob, session);
  CHECK(s.load_session(bob) == session);
  const signal::SenderKeyName group{"120363000000000001@g.us", bob};
  const auto sk = record("a sender key record");
  s.store_sender_key(group, sk);
  CHECK(s.load_sender_key(group) == sk);
  CHECK(s.local_identity().identity.priv == dev.identity_key.priv);
  REQUIRE(s.load_signed_pre_key(dev.signed_pre_key.id));
  CHECK(s.load_signed_pre_key(dev.signed_pre_key.id)->pair.priv == dev.signed_pre_key.pair.priv);
  REQUIRE(s.load_pre_key(9));

  CHECK(one(c,
            "SELECT count(*) FROM wa_signal_sessions WHERE data_key_id = 1 AND position($1::bytea in "
            "session) = 0",
            {pg::Param::bytes(record("session record"))}) == "1");
  CHECK(one(c,
            "SELECT count(*) FROM wa_signal_sender_keys WHERE data_key_id = 1 AND position($1::bytea in "
            "sender_key) = 0",
            {pg::Param::bytes(record("sender key"))}) == "1");
}

TEST_CASE("sealing: a tampered row, or a row copied to another business or column, does not open",
          "[sealing][pg]") {
  test::TestDatabase db;
  Installed k(ring_of({store::KekRing::generate_line()}), db.url());
  auto c = db.connect();
  store::add_account(c, "acme", std::nullopt);
  store::add_account(c, "other", std::nullopt);
  auto acme_fence = lease(c, "acme");
  auto other_fence = lease(c, "other");
  store::PgDeviceStore acme(c, acme_fence);
  store::PgDeviceStore other(c, other_fence);
  acme.save_device(client::DeviceKeys::generate());
  other.save_device(client::DeviceKeys::generate());
  REQUIRE(other.load_device());

  SECTION("one flipped bit") {
    c.exec("tamper",
           "UPDATE wa_devices SET noise_priv = set_byte(noise_priv, 30, get_byte(noise_priv, 30) # 1)"
           " WHERE business_id = 'acme'");
    CHECK_THROWS_AS(acme.load_device(), store::SealingError);
  }
  SECTION("the device row copied to another business") {
    c.exec("copy acme's keys into other's row",
           "UPDATE wa_devices o SET noise_priv = a.noise_priv, identity_priv = a.identity_priv,"
           " signed_pre_key_priv = a.signed_pre_key_priv, adv_secret = a.adv_secret"
           " FROM wa_devices a WHERE a.business_id = 'acme' AND o.business_id = 'other'");
    CHECK_THROWS_WITH(other.load_device(), Catch::Contains("copied from another account"));
    REQUIRE(acme.load_device());  // the original still opens
  }
  SECTION("a session copied to another business") {
    store::PgSignalStore a(c, acme_fence, kJid);
    store::PgSignalStore o(c, other_fence, kJid);
    const signal::Address bob{"15550002", 0};
    a.store_session(bob, record("acme's session with bob"));
    o.store_session(bob, record("other's session with bob"));
    c.exec("copy the session",
           "UPDATE wa_signal_sessions o SET session = a.session FROM wa_signal_sessions a"
           " WHERE a.business_id = 'acme' AND o.business_id = 'other'");
    CHECK_THROWS_AS(o.load_session(bob), store::SealingError);
    CHECK(a.load_session(bob) == record("acme's session with bob"));
  }
  SECTION("one column's value moved into another column") {
    c.exec("swap", "UPDATE wa_devices SET identity_priv = noise_priv WHERE business_id = 'acme'");
    CHECK_THROWS_AS(acme.load_device(), store::SealingError);
  }
}

TEST_CASE("sealing: a wrong or missing KEK is refused with an error naming the setting", "[sealing][pg]") {
  test::TestDatabase db;
  auto c = db.connect();
  store::add_account(c, "acme", std::nullopt);
  {
    Installed k(ring_of({store::KekRing::generate_line()}), db.url());
    store::PgDeviceStore s(c, lease(c, "acme"));
    s.save_device(client::DeviceKeys::generate());
  }
  store::PgDeviceStore s(c, lease(c, "acme"));
  // No KEK at all: the sealed row is not read as if it were plain, and nothing is re-created.
  CHECK_THROWS_WITH(s.load_device(), Catch::Contains("--kek-file (WACONN_KEK_FILE)"));
  // Another KEK: verify() (what `run` does before any account starts) names the setting.
  store::Sealer wrong(ring_of({store::KekRing::generate_line()}));
  CHECK_THROWS_WITH(wrong.verify(c),
                    Catch::Contains("--kek-file (WACONN_KEK_FILE)") && Catch::Contains("not in the file"));
  Installed k(ring_of({store::KekRing::generate_line()}), db.url());
  CHECK_THROWS_AS(s.load_device(), store::SealingError);
  CHECK(one(c, "SELECT count(*) FROM wa_devices") == "1");  // nothing replaced
}

TEST_CASE("sealing: KEK file format - hex or base64 lines, comments, errors never echo key text",
          "[sealing]") {
  const auto hex = store::KekRing::generate_line();
  const auto ring =
      store::KekRing::parse("# comment\n\n" + hex + "\n  " + store::KekRing::generate_line() + "  \n", "f");
  CHECK(ring.keys().size() == 2);
  CHECK(ring.primary().id == store::KekRing::fingerprint(crypto::key32_from_hex(hex)));
  CHECK(ring.primary().id.size() == 16);
  const auto b64 = store::KekRing::parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", "f");
  CHECK(crypto::to_hex(b64.primary().key) ==
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  const std::string almost = hex.substr(0, 63) + "g";
  try {
    store::KekRing::parse(almost, "--kek-file x");
    FAIL("a malformed line was accepted");
  } catch (const store::SealingError& e) {
    CHECK(std::string(e.what()).find(almost.substr(0, 16)) == std::string::npos);
    CHECK_THAT(e.what(), Catch::Contains("line 1"));
  }
  CHECK_THROWS_WITH(store::KekRing::parse("# nothing\n", "--kek-file x"), Catch::Contains("holds no key"));
}

TEST_CASE(
    "sealing: rotation re-wraps online while a leader writes, afterwards the new KEK alone opens everything",
    "[sealing][pg]") {
  test::TestDatabase db;
  const auto a = store::KekRing::generate_line();
  const auto b = store::KekRing::generate_line();
  const auto cc = store::KekRing::generate_line();
  {
    auto c = db.connect();
    store::add_account(c, "acme", std::nullopt);
  }
  Installed leader_keys(ring_of({a}), db.url());
  auto lc = db.connect("leader");
  auto fence = lease(lc, "acme");
  store::PgDeviceStore dev(lc, fence);
  dev.save_device(client::DeviceKeys::generate());
  store::PgSignalStore s(lc, fence, kJid);

  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::string writer_error;
  std::thread writer([&] {
    try {
      for (int i = 0; !stop; ++i) {
        s.store_session({"1555" + std::to_string(i % 40), 0}, record("session " + std::to_string(i)));
        ++written;
      }
    } catch (const std::exception& e) {
      writer_error = e.what();
    }
  });
  auto oc = db.connect("operator");
  std::size_t rewrapped = 0;
  // a -> b -> c, each step run twice at once (two operators): the compare-and-swap lets one win.
  for (const auto& ring : {ring_of({b, a}), ring_of({cc, b})}) {
    auto oc2 = db.connect("operator 2");
    std::size_t other = 0;
    std::thread twin([&] { other = store::rewrap_data_keys(oc2, ring); });
    rewrapped += store::rewrap_data_keys(oc, ring);
    twin.join();
    rewrapped += other;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  while (written < 200 && writer_error.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  stop = true;
  writer.join();
  CHECK(writer_error.empty());
  CHECK(written >= 200);
  CHECK(rewrapped == 2);  // one data key, re-wrapped once per step

  // A process that only has the last KEK (a pod started after the rotation) opens every row.
  Installed fresh(ring_of({cc}));
  CHECK(fresh.sealer->verify(oc) == 1);
  auto f2 = lease(oc, "acme");  // a new leader
  store::PgSignalStore s2(oc, f2, kJid);
  for (int i = 0; i < 40; ++i) CHECK(s2.load_session({"1555" + std::to_string(i), 0}).has_value());
  store::PgDeviceStore dev2(oc, f2);
  CHECK(dev2.load_device().has_value());
  // And the old KEK alone no longer does.
  store::Sealer old(ring_of({a}));
  CHECK_THROWS_AS(old.verify(oc), store::SealingError);
}

TEST_CASE(
    "sealing: plain rows from before sealing are read, sealed by keys seal, then plain rows are refused",
    "[sealing][pg]") {
  test::TestDatabase db;
  auto c = db.connect();
  store::add_account(c, "acme", std::nullopt);
  auto fence = lease(c, "acme");
  const auto dev = client::DeviceKeys::generate();
  {
    store::PgDeviceStore plain(c, fence);  // no sealer: what a binary before 0010 wrote
    plain.save_device(dev);
    plain.save_pre_keys({{1, crypto::KeyPair::generate(), false}, {2, crypto::KeyPair::generate(), false}});
    store::PgSignalStore sig(c, fence, kJid);
    sig.store_session({"15550002", 0}, record("plain session"));
  }
  CHECK(one(c, "SELECT count(*) FROM wa_devices WHERE data_key_id IS NULL AND length(noise_priv) = 32") ==
        "1");
  Installed k(ring_of({store::KekRing::generate_line()}), db.url());
  k.sealer->verify(c);
  store::PgDeviceStore s(c, fence);
  REQUIRE(s.load_device());
  CHECK(s.load_device()->noise_key.priv == dev.noise_key.priv);

  const auto n = store::seal_plain_rows(c, *k.sealer);
  CHECK(n.devices == 1);
  CHECK(n.pre_keys == 2);
  CHECK(n.sessions == 1);
  CHECK(one(c, "SELECT count(*) FROM wa_devices WHERE data_key_id IS NULL") == "0");
  CHECK(s.load_device()->noise_key.priv == dev.noise_key.priv);
  store::PgSignalStore sig(c, fence, kJid);
  CHECK(sig.load_session({"15550002", 0}) == record("plain session"));
  CHECK(store::sealed_row_counts(c).count(std::nullopt) == 0);

  // Someone writes a plain key of their own into the sealed table: refused.
  k.sealer->verify(c);
  c.exec("plant a plain key", "UPDATE wa_device_pre_keys SET priv = $1, data_key_id = NULL WHERE key_id = 1",
         {pg::Param::bytes(std::vector<std::uint8_t>(32, 7))});
  CHECK_THROWS_WITH(s.unuploaded_pre_keys(10), Catch::Contains("refused"));
}

TEST_CASE("sealing: a value written in plain into a sealed device row is refused by the schema",
          "[sealing][pg]") {
  test::TestDatabase db;
  Installed k(ring_of({store::KekRing::generate_line()}), db.url());
  auto c = db.connect();
  store::add_account(c, "acme", std::nullopt);
  store::PgDeviceStore s(c, lease(c, "acme"));
  s.save_device(client::DeviceKeys::generate());
  // What a binary older than 0010 would send: 32 plain bytes, data_key_id untouched.
  CHECK_THROWS_AS(c.exec("old binary write", "UPDATE wa_devices SET noise_priv = $1",
                         {pg::Param::bytes(std::vector<std::uint8_t>(32, 1))}),
                  pg::Error);
}

namespace {

// One due delivery of `hook` (an event as the triggers write it) and the leader's claim of it.
std::vector<store::DueDelivery> claim_one(pg::Connection& c, const std::string& business_id, const std::string& hook) {
  c.exec("test: an event", "INSERT INTO wa_events (id, business_id, type, data) VALUES ($1, $2, 'account.status', '{}')",
         {"ev-" + hook, business_id});
  c.exec("test: its delivery",
         "INSERT INTO wa_webhook_deliveries (webhook_id, business_id, event_id) VALUES ($1, $2, $3)",
         {hook, business_id, "ev-" + hook});
  // Leasing makes account.leader events (and deliveries) too: keep ours.
  auto all = store::claim_deliveries(c, *lease(c, business_id), 10, 60000);
  std::vector<store::DueDelivery> out;
  for (auto& d : all)
    if (d.event_id == "ev-" + hook) out.push_back(std::move(d));
  return out;
}

}  // namespace

TEST_CASE("sealing: webhook secrets are sealed at rest, rotation seals both, the sender gets them in clear",
          "[sealing][pg]") {
  test::TestDatabase db;
  auto c = db.connect();
  store::add_account(c, "acme", std::nullopt);
  store::add_account(c, "other", std::nullopt);
  const std::string secret = "whsec_c2VhbGVkIHdlYmhvb2sgc2VjcmV0IG9uZQ==";
  const std::string next = "whsec_dGhlIHNlY29uZCBzZWNyZXQgYWZ0ZXIgcm90YXRpb24=";
  const auto kek = store::KekRing::generate_line();
  std::string hook;
  {
    Installed k(ring_of({kek}), db.url());
    const auto w = store::create_webhook(c, "acme", "https://example.invalid/a", {"*"}, secret);
    hook = w.id;
    CHECK(w.secret == secret);
    CHECK(one(c, "SELECT count(*) FROM wa_webhooks WHERE secret IS NULL AND previous_secret IS NULL"
                 " AND data_key_id IS NOT NULL AND position(convert_to($1, 'UTF8') in secret_sealed) = 0",
              {secret}) == "1");
    CHECK(store::get_webhook(c, "acme", hook)->secret == secret);
    // Rotation with an overlap: the new one and the previous one are both sealed, and the sender
    // gets both in clear.
    const auto r = store::rotate_webhook_secret(c, "acme", hook, next, 60000);
    REQUIRE(r);
    CHECK(r->secret == next);
    CHECK(one(c, "SELECT count(*) FROM wa_webhooks WHERE secret IS NULL AND previous_secret IS NULL"
                 " AND previous_secret_sealed IS NOT NULL"
                 " AND position(convert_to($1, 'UTF8') in previous_secret_sealed) = 0"
                 " AND position(convert_to($2, 'UTF8') in secret_sealed) = 0",
              {secret, next}) == "1");
    const auto due = claim_one(c, "acme", hook);
    REQUIRE(due.size() == 1);
    CHECK(due[0].secret == next);
    CHECK(due[0].previous_secret == std::optional<std::string>(secret));
    // Without an overlap the previous secret is gone at once.
    CHECK(store::rotate_webhook_secret(c, "acme", hook, secret, 0));
    CHECK(one(c, "SELECT count(*) FROM wa_webhooks WHERE previous_secret_sealed IS NULL AND previous_secret IS NULL")
          == "1");
    CHECK(store::get_webhook(c, "acme", hook)->secret == secret);
    // The sealed value copied into another business's webhook does not open there.
    const auto theirs = store::create_webhook(c, "other", "https://example.invalid/b", {"*"}, next);
    c.exec("copy a sealed secret across businesses",
           "UPDATE wa_webhooks SET secret_sealed = (SELECT secret_sealed FROM wa_webhooks WHERE id = $1) WHERE id = $2",
           {hook, theirs.id});
    CHECK_THROWS_WITH(store::get_webhook(c, "other", theirs.id),
                      Catch::Contains("wa_webhooks.secret of business other does not authenticate"));
  }
  // No KEK: refused with the setting named, never an empty or sealed value used as the key.
  CHECK_THROWS_WITH(store::get_webhook(c, "acme", hook), Catch::Contains("--kek-file (WACONN_KEK_FILE)"));
  CHECK_THROWS_WITH(store::rotate_webhook_secret(c, "acme", hook, next, 0),
                    Catch::Contains("--kek-file (WACONN_KEK_FILE)"));
  // A wrong KEK: refused too.
  Installed wrong(ring_of({store::KekRing::generate_line()}), db.url());
  CHECK_THROWS_AS(store::get_webhook(c, "acme", hook), store::SealingError);
  // A binary older than 0014 rotating a sealed row in plain is refused by the schema.
  CHECK_THROWS_AS(c.exec("old binary rotation", "UPDATE wa_webhooks SET secret = 'whsec_x' WHERE id = $1", {hook}),
                  pg::Error);
}

TEST_CASE("sealing: plain webhook secrets from before 0014 are read, sealed by keys seal, then refused in plain",
          "[sealing][pg]") {
  test::TestDatabase db;
  auto c = db.connect();
  store::add_account(c, "acme", std::nullopt);
  const std::string secret = "whsec_cGxhaW4gc2VjcmV0IGZyb20gYmVmb3JlIDAwMTQ=";
  const std::string previous = "whsec_dGhlIHByZXZpb3VzIHBsYWluIHNlY3JldCE=";
  // What a binary before 0014 wrote: both secrets in plain, mid-rotation.
  const auto w = store::create_webhook(c, "acme", "https://example.invalid/a", {"*"}, secret);
  c.exec("test: plain previous secret",
         "UPDATE wa_webhooks SET previous_secret = $2, previous_secret_expires_at = now() + interval '1 hour'"
         " WHERE id = $1",
         {w.id, previous});
  // A database already sealed before 0014 has the key-material mark but plain webhook secrets.
  c.exec("test: sealed before 0014", "INSERT INTO wa_settings (key, value) VALUES ('key_material', 'sealed')");
  Installed k(ring_of({store::KekRing::generate_line()}), db.url());
  k.sealer->verify(c);
  CHECK(store::get_webhook(c, "acme", w.id)->secret == secret);  // still read

  const auto n = store::seal_plain_rows(c, *k.sealer);
  CHECK(n.webhooks == 1);
  CHECK(one(c, "SELECT count(*) FROM wa_webhooks WHERE data_key_id IS NULL OR secret IS NOT NULL"
               " OR previous_secret IS NOT NULL") == "0");
  CHECK(one(c, "SELECT value FROM wa_settings WHERE key = 'webhook_secrets'") == "sealed");
  CHECK(store::get_webhook(c, "acme", w.id)->secret == secret);
  const auto due = claim_one(c, "acme", w.id);
  REQUIRE(due.size() == 1);
  CHECK(due[0].secret == secret);
  CHECK(due[0].previous_secret == std::optional<std::string>(previous));
  CHECK(store::sealed_row_counts(c).count(std::nullopt) == 0);
  CHECK(store::seal_plain_rows(c, *k.sealer).webhooks == 0);  // idempotent

  // Someone puts a plain secret of their own back: refused.
  k.sealer->verify(c);
  c.exec("plant a plain secret",
         "UPDATE wa_webhooks SET data_key_id = NULL, secret = 'whsec_mine', secret_sealed = NULL,"
         " previous_secret_sealed = NULL WHERE id = $1",
         {w.id});
  CHECK_THROWS_WITH(store::get_webhook(c, "acme", w.id), Catch::Contains("refused"));
}
