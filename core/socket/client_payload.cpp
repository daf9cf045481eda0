#include "core/socket/client_payload.h"

#include <stdexcept>

#include "core/crypto/digest.h"
#include "wa_client_payload.pb.h"

namespace wa::socket {

using wa::proto::ClientPayload;

std::string WaVersion::str() const {
  return std::to_string(primary) + "." + std::to_string(secondary) + "." + std::to_string(tertiary);
}

ClientPayload base_client_payload(const WaVersion& v) {
  ClientPayload p;
  auto* ua = p.mutable_user_agent();
  ua->set_platform(ClientPayload::UserAgent::WEB);
  ua->mutable_app_version()->set_primary(v.primary);
  ua->mutable_app_version()->set_secondary(v.secondary);
  ua->mutable_app_version()->set_tertiary(v.tertiary);
  ua->set_mcc("000");
  ua->set_mnc("000");
  ua->set_os_version("0.1");
  ua->set_manufacturer("");
  ua->set_device("Desktop");
  ua->set_os_build_number("0.1");
  ua->set_release_channel(ClientPayload::UserAgent::RELEASE);
  ua->set_locale_language_iso_639_1("en");
  ua->set_locale_country_iso_3166_1_alpha_2("US");
  p.mutable_web_info()->set_web_sub_platform(ClientPayload::WebInfo::WEB_BROWSER);
  p.set_connect_type(ClientPayload::WIFI_UNKNOWN);
  p.set_connect_reason(ClientPayload::USER_ACTIVATED);
  return p;
}

Bytes login_payload(std::uint64_t username, std::uint32_t device, const WaVersion& v) {
  ClientPayload p = base_client_payload(v);
  p.set_username(username);
  p.set_device(device);
  p.set_passive(true);
  p.set_pull(true);
  p.set_lid_db_migrated(true);
  p.set_lc(1);
  return crypto::to_bytes(p.SerializeAsString());
}

Bytes registration_payload(const RegistrationKeys& keys, const WaVersion& v) {
  if (keys.signed_pre_key_sig.size() != 64) throw std::invalid_argument("signed pre-key signature must be 64 bytes");
  ClientPayload p = base_client_payload(v);
  p.set_passive(false);
  p.set_pull(false);
  auto* d = p.mutable_device_pairing_data();
  const std::uint32_t r = keys.registration_id;
  const char regid[4] = {char(r >> 24), char(r >> 16), char(r >> 8), char(r)};
  d->set_e_regid(regid, 4);
  d->set_e_keytype(std::string(1, '\x05'));
  d->set_e_ident(keys.identity_pub.data(), keys.identity_pub.size());
  const std::uint32_t k = keys.signed_pre_key_id;
  const char skey_id[3] = {char(k >> 16), char(k >> 8), char(k)};  // last 3 bytes of the BE uint32
  d->set_e_skey_id(skey_id, 3);
  d->set_e_skey_val(keys.signed_pre_key_pub.data(), keys.signed_pre_key_pub.size());
  d->set_e_skey_sig(crypto::to_string(keys.signed_pre_key_sig));
  const std::string version = v.str();
  d->set_build_hash(crypto::to_string(crypto::md5(crypto::view(version))));

  wa::proto::DeviceProps props;
  props.set_os("whatsmeow");
  props.mutable_version()->set_primary(0);
  props.mutable_version()->set_secondary(1);
  props.mutable_version()->set_tertiary(0);
  props.set_platform_type(wa::proto::DeviceProps::UNKNOWN);
  props.set_require_full_sync(false);
  auto* hs = props.mutable_history_sync_config();
  hs->set_storage_quota_mb(10240);
  hs->set_thumbnail_sync_days_limit(60);
  hs->set_inline_initial_payload_in_e2ee_msg(true);
  hs->set_support_call_log_history(true);
  hs->set_support_bot_user_agent_chat_history(true);
  hs->set_support_cag_reactions_and_polls(true);
  hs->set_support_biz_hosted_msg(true);
  hs->set_support_recent_sync_chunk_message_count_tuning(true);
  hs->set_support_hosted_group_msg(true);
  hs->set_support_fbid_bot_chat_history(true);
  hs->set_support_message_association(true);
  hs->set_support_group_history(true);
  hs->set_support_manus_history(true);
  hs->set_support_hatch_history(true);
  d->set_device_props(props.SerializeAsString());
  return crypto::to_bytes(p.SerializeAsString());
}

}  // namespace wa::socket
