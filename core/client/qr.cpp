#include "core/client/qr.h"

#include <stdexcept>

#include "core/crypto/base64.h"

namespace wa::client {

std::string make_qr_string(const std::string& ref, const crypto::Key32& noise_pub, const crypto::Key32& identity_pub,
                           const crypto::Key32& adv_secret, char platform) {
  // A ref with a comma would shift every field the phone parses.
  if (ref.empty() || ref.find(',') != std::string::npos) throw std::invalid_argument("pair-device ref is empty or holds ','");
  std::string s = "https://wa.me/settings/linked_devices#";
  s += ref;
  s += ',';
  s += crypto::base64_encode(noise_pub);
  s += ',';
  s += crypto::base64_encode(identity_pub);
  s += ',';
  s += crypto::base64_encode(adv_secret);
  s += ',';
  s += platform;
  return s;
}

}  // namespace wa::client
