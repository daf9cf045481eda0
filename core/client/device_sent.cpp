#include "core/client/device_sent.h"

#include "core/client/message_content.h"

namespace wa::client {

namespace {
bool same_user(const binary::Jid& a, const binary::Jid& b) { return a.user == b.user && a.server == b.server; }
}  // namespace

bool is_this_device(const binary::Jid& device, const OwnIdentity& own) {
  const auto dev = device.device.value_or(0);
  if (same_user(device, own.device) && dev == own.device.device.value_or(0)) return true;
  return own.lid && same_user(device, *own.lid) && dev == own.lid->device.value_or(0);
}

bool is_own_account(const binary::Jid& device, const OwnIdentity& own) {
  return same_user(device, own.device) || (own.lid && same_user(device, *own.lid));
}

crypto::Bytes device_sent_plaintext(const binary::Jid& chat, crypto::ByteView message) {
  return encode_device_sent(chat.to_non_ad().to_string(), message);
}

}  // namespace wa::client
