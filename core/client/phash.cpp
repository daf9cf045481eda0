#include "core/client/phash.h"

#include <algorithm>

#include "core/crypto/base64.h"
#include "core/crypto/digest.h"

namespace wa::client {

std::string ad_string(const binary::Jid& jid) {
  return jid.user + "." + std::to_string(jid.agent) + ":" + std::to_string(jid.device.value_or(0)) + "@" +
         jid.server;
}

std::string participant_hash(const std::vector<binary::Jid>& devices) {
  std::vector<std::string> parts;
  parts.reserve(devices.size());
  for (const auto& d : devices) parts.push_back(ad_string(d));
  std::sort(parts.begin(), parts.end());
  std::string joined;
  for (const auto& p : parts) joined += p;
  const auto hash = crypto::sha256(crypto::view(joined));
  return "2:" + crypto::base64_encode(crypto::ByteView(hash.data(), 6), false, false);
}

}  // namespace wa::client
