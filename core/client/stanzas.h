// The stanzas the client sends (transport reference §6, §7; e2e reference §2), as pure builders.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/binary/node.h"
#include "core/client/device.h"

namespace wa::client {

using binary::Node;

// whatsmeow's request ids: "<r0>.<r1>-<counter>", two random bytes in decimal, counter from 1.
class IqIds {
 public:
  IqIds();
  std::string next();

 private:
  std::string prefix_;
  std::uint64_t counter_ = 0;
};

binary::Jid server_jid();  // "@s.whatsapp.net"

Node iq(const std::string& id, const std::string& type, const std::string& xmlns, binary::NodeList children = {});
Node keepalive_ping(const std::string& id);
// Logging out: the server removes `device_jid` (our own companion device) from the account.
Node remove_companion_device(const std::string& id, const std::string& device_jid);
Node pre_key_count(const std::string& id);
Node pre_key_upload(const std::string& id, const DeviceKeys& device, const std::vector<PreKey>& keys);
Node passive_active(const std::string& id);
// <iq to=FROM type="result" id=ID/>, the answer to a server iq such as pair-device.
Node iq_result(const Node& request);
Node pair_device_sign(const std::string& id, std::uint32_t key_index, const Bytes& reply);
Node pair_error(const std::string& id, int code, const std::string& text);
// The generic ack for message/receipt/notification/call (§7.8); nullopt-like empty tag when
// the stanza has no id.
Node ack_for(const Node& stanza);
Node unified_session(std::int64_t unix_ms);
Node link_code_hello(const std::string& id, const std::string& phone_digits, bool show_push,
                     const Bytes& wrapped_ephemeral, const Key32& noise_pub, const std::string& platform_id,
                     const std::string& platform_display);
Node link_code_finish(const std::string& id, const std::string& phone_digits, const Bytes& wrapped_key_bundle,
                      const Key32& identity_pub, const Bytes& ref);

// 3-byte big-endian (pre-key ids), 4-byte big-endian (registration id).
Bytes be3(std::uint32_t v);
Bytes be4(std::uint32_t v);

}  // namespace wa::client
