#include <catch2/catch.hpp>

#include "core/crypto/digest.h"
#include "core/socket/client_payload.h"
#include "wa_client_payload.pb.h"

using namespace wa::socket;
using wa::proto::ClientPayload;

TEST_CASE("login payload carries whatsmeow's values", "[payload]") {
  Bytes b = login_payload(15550001234ull, 7);
  ClientPayload p;
  REQUIRE(p.ParseFromArray(b.data(), static_cast<int>(b.size())));
  CHECK(p.username() == 15550001234ull);
  CHECK(p.device() == 7);
  CHECK(p.passive());
  CHECK(p.pull());
  CHECK(p.lid_db_migrated());
  CHECK(p.lc() == 1);
  CHECK_FALSE(p.has_device_pairing_data());
  CHECK(p.user_agent().platform() == ClientPayload::UserAgent::WEB);
  CHECK(p.user_agent().app_version().tertiary() == 1045649367u);
  CHECK(p.connect_type() == ClientPayload::WIFI_UNKNOWN);
  CHECK(p.connect_reason() == ClientPayload::USER_ACTIVATED);
}

TEST_CASE("registration payload encodes the pairing data as the reference says", "[payload]") {
  RegistrationKeys k;
  k.registration_id = 0x01020304;
  k.identity_pub.fill(0x11);
  k.signed_pre_key_id = 1;
  k.signed_pre_key_pub.fill(0x22);
  k.signed_pre_key_sig.assign(64, 0x33);
  Bytes b = registration_payload(k);
  ClientPayload p;
  REQUIRE(p.ParseFromArray(b.data(), static_cast<int>(b.size())));
  CHECK_FALSE(p.has_username());
  CHECK_FALSE(p.passive());
  CHECK_FALSE(p.pull());
  const auto& d = p.device_pairing_data();
  CHECK(d.e_regid() == std::string("\x01\x02\x03\x04", 4));
  CHECK(d.e_keytype() == "\x05");
  CHECK(d.e_ident() == std::string(32, '\x11'));
  CHECK(d.e_skey_id() == std::string("\x00\x00\x01", 3));
  CHECK(d.e_skey_val() == std::string(32, '\x22'));
  CHECK(d.e_skey_sig().size() == 64);
  CHECK(d.build_hash() == wa::crypto::to_string(wa::crypto::md5(wa::crypto::view("2.3000.1045649367"))));
  wa::proto::DeviceProps props;
  REQUIRE(props.ParseFromString(d.device_props()));
  CHECK(props.os() == "whatsmeow");
  CHECK(props.history_sync_config().storage_quota_mb() == 10240);
  k.signed_pre_key_sig.resize(10);
  CHECK_THROWS_AS(registration_payload(k), std::invalid_argument);
}
