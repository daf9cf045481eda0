#include "core/client/retry_receipt.h"

#include <algorithm>
#include <stdexcept>

#include "core/client/stanzas.h"
#include "wa_adv.pb.h"

namespace wa::client {

namespace {

binary::Node bytes_child(std::string tag, Bytes b) {
  return binary::Node{std::move(tag), {}, std::move(b)};
}

Bytes key_bytes(const Key32& k) {
  return Bytes(k.begin(), k.end());
}

}  // namespace

binary::Node retry_receipt(const binary::Node& message, const MessageInfo& info, int count,
                           std::uint32_t registration_id, const std::optional<RetryKeys>& keys) {
  binary::Node r{"receipt", {{"id", info.id}}, {}};
  if (const auto* from = message.attr("from")) r.attrs.push_back({"to", *from});
  for (const char* k : {"participant", "recipient"})
    if (const auto* v = message.attr(k)) r.attrs.push_back({k, *v});
  r.attrs.push_back({"type", std::string("retry")});
  if (info.category == "peer") r.attrs.push_back({"category", std::string("peer")});
  binary::NodeList kids;
  kids.push_back(binary::Node{"retry",
                              {{"count", std::to_string(count)},
                               {"id", info.id},
                               {"t", std::to_string(info.timestamp)},
                               {"v", std::string("1")}},
                              {}});
  kids.push_back(bytes_child("registration", be4(registration_id)));
  if (keys) {
    binary::NodeList k;
    k.push_back(bytes_child("type", Bytes{0x05}));
    k.push_back(bytes_child("identity", key_bytes(keys->identity_pub)));
    k.push_back(binary::Node{"key",
                             {},
                             binary::NodeList{bytes_child("id", be3(keys->pre_key.id)),
                                              bytes_child("value", key_bytes(keys->pre_key.pair.pub))}});
    k.push_back(binary::Node{"skey",
                             {},
                             binary::NodeList{bytes_child("id", be3(keys->signed_pre_key.id)),
                                              bytes_child("value", key_bytes(keys->signed_pre_key.pair.pub)),
                                              bytes_child("signature", keys->signed_pre_key.signature)}});
    k.push_back(bytes_child("device-identity", keys->device_identity));
    kids.push_back(binary::Node{"keys", {}, std::move(k)});
  }
  r.content = std::move(kids);
  return r;
}

Bytes device_identity_for_wire(const Bytes& account) {
  wa::proto::ADVSignedDeviceIdentity id;
  if (account.empty() || !id.ParseFromArray(account.data(), static_cast<int>(account.size())))
    throw std::invalid_argument("stored account identity is not an ADVSignedDeviceIdentity");
  id.clear_account_signature_key();
  const auto s = id.SerializeAsString();
  return Bytes(s.begin(), s.end());
}

int RetryCounter::next(const std::string& message_id, std::optional<int> resend_count) {
  auto it = counts_.find(message_id);
  int prev = it == counts_.end() ? 0 : it->second;
  if (resend_count) prev = std::max(prev, std::clamp(*resend_count, 0, kMaxRetryCount));
  const int n = prev + 1;
  if (it == counts_.end()) {
    if (counts_.size() >= capacity_ && !order_.empty()) {
      counts_.erase(order_.front());
      order_.pop_front();
    }
    counts_.emplace(message_id, n);
    order_.push_back(message_id);
  } else {
    it->second = n;
  }
  return n;
}

void RetryCounter::forget(const std::string& message_id) {
  if (counts_.erase(message_id) == 0) return;
  order_.erase(std::remove(order_.begin(), order_.end(), message_id), order_.end());
}

}  // namespace wa::client
