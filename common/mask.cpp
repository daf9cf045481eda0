#include "common/mask.h"

namespace wa {

std::string mask_phone(std::string_view phone) {
  std::string out(phone);
  std::size_t digits = 0;
  for (char c : out) digits += (c >= '0' && c <= '9') ? 1 : 0;
  if (digits == 0) return out;
  const std::size_t keep_head = digits > 6 ? 4 : 0;
  const std::size_t keep_tail = digits > 6 ? 2 : 0;
  std::size_t seen = 0;
  for (char& c : out) {
    if (c < '0' || c > '9') continue;
    if (seen >= keep_head && seen < digits - keep_tail) c = '*';
    ++seen;
  }
  return out;
}

std::string mask_jid(std::string_view jid) {
  const auto at = jid.find('@');
  if (at == std::string_view::npos) return mask_phone(jid);
  auto user = jid.substr(0, at);
  // Keep the device/agent suffix (":3", ".0:3") readable: it is not personal.
  const auto sep = user.find_first_of(".:");
  std::string masked = mask_phone(user.substr(0, sep));
  if (sep != std::string_view::npos) masked += user.substr(sep);
  masked += jid.substr(at);
  return masked;
}

}  // namespace wa
