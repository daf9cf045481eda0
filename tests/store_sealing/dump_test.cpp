// After a real pairing (PostgreSQL + wasim + `waconnector run` replicas, a virtual phone scanning
// the QR), a pg_dump of the database holds no X25519 private key whose public key is known: the
// device's Noise and identity public keys (from the QR the phone scanned) and every 32-byte value
// stored anywhere in the dump. Neither is the ADV secret in it, nor a webhook signing secret
// (created and rotated through the REST API, so both the current and the previous one are stored).
#include <array>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "../app/http_client.h"
#include "cluster.h"
#include "core/crypto/base64.h"
#include "core/crypto/bytes.h"
#include "core/crypto/x25519.h"
#include "store/tokens.h"

namespace wa::e2e {
namespace {

struct PipeClose {
  void operator()(FILE* f) const { pclose(f); }
};

std::string run_capture(const std::string& cmd) {
  std::unique_ptr<FILE, PipeClose> p(popen(cmd.c_str(), "r"));
  REQUIRE(p);
  std::string out;
  std::array<char, 65536> buf{};
  for (std::size_t n; (n = fread(buf.data(), 1, buf.size(), p.get())) > 0;) out.append(buf.data(), n);
  return out;
}

// Every bytea value of a plain-format dump: COPY text writes them as \\x<hex>.
std::vector<crypto::Bytes> bytea_values(const std::string& dump) {
  std::vector<crypto::Bytes> out;
  for (auto at = dump.find("\\\\x"); at != std::string::npos; at = dump.find("\\\\x", at + 3)) {
    auto end = at + 3;
    while (end < dump.size() && std::isxdigit(static_cast<unsigned char>(dump[end]))) ++end;
    if ((end - at - 3) % 2 == 0 && end > at + 3)
      out.push_back(crypto::from_hex(dump.substr(at + 3, end - at - 3)));
  }
  return out;
}

// Private keys among all 32-byte windows of `values` whose public key is in `publics`.
std::size_t exposed_private_keys(const std::vector<crypto::Bytes>& values,
                                 const std::set<crypto::Key32>& publics) {
  std::size_t n = 0;
  for (const auto& v : values)
    for (std::size_t i = 0; i + 32 <= v.size(); ++i) {
      const auto priv = crypto::key32_from(crypto::ByteView(v).subspan(i, 32));
      if (publics.count(crypto::KeyPair::from_private(priv).pub)) ++n;
    }
  return n;
}

std::string pg_dump_bin() {
  for (const char* p : {"/usr/lib/postgresql/15/bin/pg_dump", "/usr/bin/pg_dump"})
    if (FILE* f = std::fopen(p, "r")) {
      std::fclose(f);
      return p;
    }
  return "pg_dump";
}

}  // namespace

TEST_CASE("sealing e2e: after pairing, pg_dump holds no X25519 private key whose public key is known",
          "[pg][e2e][sealing]") {
  Cluster c({}, 2);
  // The QR the phone will scan: ref,noise_pub,identity_pub,adv_secret (base64).
  REQUIRE(hatest::wait_for([&] { return c.account().qr_code.has_value(); }, 30s));
  const auto qr = *c.account().qr_code;
  std::vector<std::string> parts;
  for (std::size_t start = 0, comma;; start = comma + 1) {
    comma = qr.find(',', start);
    parts.push_back(qr.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
  }
  REQUIRE(parts.size() >= 4);
  const auto noise_pub = crypto::base64_decode(parts[1]);
  const auto identity_pub = crypto::base64_decode(parts[2]);
  const auto adv = crypto::base64_decode(parts[3]);
  REQUIRE((noise_pub && noise_pub->size() == 32 && identity_pub && identity_pub->size() == 32 && adv &&
           adv->size() == 32));

  const auto jid = c.pair("+15550009001");
  REQUIRE(!jid.empty());
  // The pre-keys are stored after the login (uploaded to the server); wait for them.
  REQUIRE(hatest::wait_for(
      [&] {
        auto conn = c.db().connect();
        return conn.exec("count pre-keys", "SELECT count(*) FROM wa_device_pre_keys").i64(0, 0) > 0;
      },
      30s));

  // A webhook, created and rotated with an overlap on a pod (its sealer): two secrets stored.
  const std::string first_key = "d2ViaG9vayBzZWNyZXQgb25lIGZvciB0aGUgZHVtcA==";   // 32 bytes
  const std::string second_key = "c2Vjb25kIHdlYmhvb2sgc2VjcmV0IGZvciBkdW1wISE=";  // 32 bytes
  {
    auto tc = c.db().connect("create API token");
    const auto auth =
        "Authorization: Bearer " + store::create_token(tc, Cluster::kAccount, "dump").secret_token + "\r\n";
    const auto port = c.pods()[0]->http_port();
    const std::string base = std::string("/v1/accounts/") + Cluster::kAccount + "/webhooks";
    auto r = test::http_request(
        port, "POST", base,
        R"({"url":"http://127.0.0.1:9/hook","events":["*"],"secret":"whsec_)" + first_key + R"("})", auth);
    INFO(r.body);
    REQUIRE(r.status == 201);
    const auto id_at = r.body.find("\"id\":\"") + 6;
    const auto id = r.body.substr(id_at, r.body.find('"', id_at) - id_at);
    r = test::http_request(port, "POST", base + "/" + id + "/rotate-secret",
                           R"({"secret":"whsec_)" + second_key + R"(","overlap_seconds":3600})", auth);
    INFO(r.body);
    REQUIRE(r.status == 200);
  }

  const auto dump = run_capture(pg_dump_bin() + " --data-only '" + c.db().url() + "' 2>&1");
  REQUIRE(dump.find("COPY public.wa_devices") != std::string::npos);
  const auto values = bytea_values(dump);
  REQUIRE(values.size() > 100);  // the device row and its pre-keys at least

  std::set<crypto::Key32> publics{crypto::key32_from(*noise_pub), crypto::key32_from(*identity_pub)};
  for (const auto& v : values)
    for (std::size_t i = 0; i + 32 <= v.size(); ++i)
      publics.insert(crypto::key32_from(crypto::ByteView(v).subspan(i, 32)));

  // The check itself finds a plain key: a device row as a binary before sealing wrote it.
  const auto planted = crypto::KeyPair::generate();
  auto with_plain = values;
  with_plain.push_back(crypto::Bytes(planted.priv.begin(), planted.priv.end()));
  auto publics_plus = publics;
  publics_plus.insert(planted.pub);
  CHECK(exposed_private_keys(with_plain, publics_plus) == 1);

  CHECK(exposed_private_keys(values, publics) == 0);
  const crypto::Key32 adv_key = crypto::key32_from(*adv);
  for (const auto& v : values)
    CHECK(std::search(v.begin(), v.end(), adv_key.begin(), adv_key.end()) == v.end());
  // No webhook secret: not as text, not its base64, not the HMAC key's bytes.
  REQUIRE(dump.find("COPY public.wa_webhooks") != std::string::npos);
  for (const auto& k : {first_key, second_key}) {
    CHECK(dump.find(k) == std::string::npos);
    CHECK(dump.find(k.substr(0, 16)) == std::string::npos);
    const auto raw = *crypto::base64_decode(k);
    for (const auto& v : values) CHECK(std::search(v.begin(), v.end(), raw.begin(), raw.end()) == v.end());
  }
  // Every key row is sealed and names its data key.
  auto conn = c.db().connect();
  CHECK(conn.exec("plain rows",
                  "SELECT (SELECT count(*) FROM wa_devices WHERE data_key_id IS NULL)"
                  " + (SELECT count(*) FROM wa_device_pre_keys WHERE data_key_id IS NULL)")
            .i64(0, 0) == 0);
  CHECK(conn.exec("sealed webhook secrets",
                  "SELECT count(*) FROM wa_webhooks WHERE data_key_id IS NOT NULL AND secret IS NULL"
                  " AND previous_secret_sealed IS NOT NULL")
            .i64(0, 0) == 1);
}

}  // namespace wa::e2e
