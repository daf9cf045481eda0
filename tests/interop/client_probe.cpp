// wa_interop_client_probe: our client transport (connect_and_handshake) against a live server,
// for the interop tests: connects with a registration ClientPayload, trusting the given root
// key, and reports the first stanza the server sends, or why it failed, as one JSON line.
//   wa_interop_client_probe --url ws://127.0.0.1:PORT/ws/chat --root-key HEX [--dict 2|3]
// Exit: 0 first stanza received, 3 certificate chain refused, 1 any other failure, 2 usage.
#include <chrono>
#include <cstdint>
#include <exception>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <system_error>

#include "core/binary/decoder.h"
#include "core/binary/json.h"
#include "core/binary/node_json.h"
#include "core/crypto/bytes.h"
#include "core/crypto/digest.h"
#include "core/crypto/random.h"
#include "core/crypto/x25519.h"
#include "core/crypto/xeddsa.h"
#include "core/socket/cert_chain.h"
#include "core/socket/client_connect.h"
#include "core/socket/noise_handshake.h"
#include "wa_client_payload.pb.h"

namespace {

using wa::crypto::Bytes;
using wa::crypto::KeyPair;

// A registration payload as reference §4 describes it (fresh keys; nothing is kept).
Bytes registration_payload() {
  wa::proto::ClientPayload p;
  auto* ua = p.mutable_user_agent();
  ua->set_platform(wa::proto::ClientPayload::UserAgent::WEB);
  auto* v = ua->mutable_app_version();
  v->set_primary(2);
  v->set_secondary(3000);
  v->set_tertiary(1045649367);
  ua->set_mcc("000");
  ua->set_mnc("000");
  ua->set_os_version("0.1");
  ua->set_device("Desktop");
  ua->set_os_build_number("0.1");
  ua->set_release_channel(wa::proto::ClientPayload::UserAgent::RELEASE);
  ua->set_locale_language_iso_639_1("en");
  ua->set_locale_country_iso_3166_1_alpha_2("US");
  p.mutable_web_info()->set_web_sub_platform(wa::proto::ClientPayload::WebInfo::WEB_BROWSER);
  p.set_connect_type(wa::proto::ClientPayload::WIFI_UNKNOWN);
  p.set_connect_reason(wa::proto::ClientPayload::USER_ACTIVATED);
  p.set_passive(false);
  p.set_pull(false);

  const KeyPair identity = KeyPair::generate();
  const KeyPair signed_pre_key = KeyPair::generate();
  Bytes to_sign{0x05};
  to_sign.insert(to_sign.end(), signed_pre_key.pub.begin(), signed_pre_key.pub.end());
  const Bytes sig = wa::crypto::xeddsa_sign(identity.priv, to_sign);
  const Bytes regid = wa::crypto::random_bytes(4);
  const std::string version = "2.3000.1045649367";
  const Bytes build_hash = wa::crypto::md5(wa::crypto::view(version));

  auto* pd = p.mutable_device_pairing_data();
  pd->set_e_regid(regid.data(), regid.size());
  pd->set_e_keytype(std::string(1, '\x05'));
  pd->set_e_ident(identity.pub.data(), identity.pub.size());
  pd->set_e_skey_id(std::string("\x00\x00\x01", 3));
  pd->set_e_skey_val(signed_pre_key.pub.data(), signed_pre_key.pub.size());
  pd->set_e_skey_sig(sig.data(), sig.size());
  pd->set_build_hash(build_hash.data(), build_hash.size());
  const std::string out = p.SerializeAsString();
  return Bytes(out.begin(), out.end());
}

std::string json_line(bool ok, const std::string& key, const std::string& value, const std::string& kind = "") {
  std::string s = "{\"ok\":";
  s += ok ? "true" : "false";
  if (!kind.empty()) {
    s += ",\"error_type\":";
    wa::binary::append_json_string(s, kind);
  }
  s += ",";
  wa::binary::append_json_string(s, key);
  s += ":";
  s += ok ? value : [&] {
    std::string q;
    wa::binary::append_json_string(q, value);
    return q;
  }();
  return s + "}";
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args{{"dict", "3"}};
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0) break;
    args[k.substr(2)] = argv[i + 1];
  }
  if (!args.count("url") || !args.count("root-key") || (args["dict"] != "2" && args["dict"] != "3")) {
    std::cerr << "usage: wa_interop_client_probe --url URL --root-key HEX [--dict 2|3]\n";
    return 2;
  }
  try {
    asio::io_context io;
    wa::socket::ClientConnectOptions opts;
    opts.url = args["url"];
    opts.trusted_root = wa::crypto::key32_from_hex(args["root-key"], "root key");
    opts.noise_key = KeyPair::generate();
    opts.client_payload = registration_payload();
    opts.dict_version = static_cast<std::uint8_t>(std::stoi(args["dict"]));
    opts.handshake_timeout = std::chrono::milliseconds(10000);
    const auto dict = opts.dict_version == 2 ? wa::binary::Dict::v2 : wa::binary::Dict::v3;

    std::exception_ptr err;
    std::optional<std::string> first_node;
    std::shared_ptr<wa::socket::FrameSocket> sock;
    wa::socket::connect_and_handshake(io, opts, [&](std::exception_ptr e, std::shared_ptr<wa::socket::FrameSocket> s) {
      err = e;
      sock = s;
      if (!s) return;
      s->set_frame_handler([&](Bytes frame) {
        if (first_node) return;
        try {
          first_node = wa::binary::node_to_json(wa::binary::decode_frame(frame, dict));
        } catch (...) {
          err = std::current_exception();
        }
        sock->close();
      });
    });
    io.run_for(std::chrono::seconds(15));
    if (sock) sock->abort();
    io.run_for(std::chrono::milliseconds(200));
    if (err) std::rethrow_exception(err);
    if (!first_node) {
      std::cout << json_line(false, "error", "no stanza within 15 s after the handshake", "timeout") << "\n";
      return 1;
    }
    std::cout << json_line(true, "first_node", *first_node) << "\n";
    return 0;
  } catch (const wa::socket::CertChainError& e) {
    std::cout << json_line(false, "error", e.what(), "CertChainError") << "\n";
    return 3;
  } catch (const wa::socket::HandshakeError& e) {
    std::cout << json_line(false, "error", e.what(), "HandshakeError") << "\n";
  } catch (const wa::binary::DecodeError& e) {
    std::cout << json_line(false, "error", e.what(), "DecodeError") << "\n";
  } catch (const std::system_error& e) {
    std::cout << json_line(false, "error", e.what(), "system_error") << "\n";
  } catch (const std::exception& e) {
    std::cout << json_line(false, "error", e.what(), "exception") << "\n";
  }
  return 1;
}
