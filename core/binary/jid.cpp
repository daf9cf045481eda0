#include "core/binary/jid.h"

#include <charconv>
#include <tuple>

namespace wa::binary {
namespace {

// Whole-string decimal number with at most `max_digits` digits and value <= max.
template <typename T>
std::optional<T> parse_uint(std::string_view s, std::size_t max_digits, unsigned max) {
  if (s.empty() || s.size() > max_digits) return std::nullopt;
  for (char c : s)
    if (c < '0' || c > '9') return std::nullopt;
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > max) return std::nullopt;
  return static_cast<T>(v);
}

}  // namespace

std::optional<Jid> Jid::parse(std::string_view s) {
  const auto at = s.find('@');
  if (at == std::string_view::npos) return std::nullopt;
  Jid j;
  const std::string_view srv = s.substr(at + 1);
  if (srv.empty() || srv.find('@') != std::string_view::npos) return std::nullopt;
  j.server = std::string(srv);
  std::string_view user = s.substr(0, at);
  if (const auto colon = user.rfind(':'); colon != std::string_view::npos) {
    auto dev = parse_uint<std::uint16_t>(user.substr(colon + 1), 5, 65535);
    if (!dev) return std::nullopt;
    j.device = *dev;
    user = user.substr(0, colon);
  }
  if (const auto us = user.rfind('_'); us != std::string_view::npos) {
    // Only a numeric suffix is an agent; other underscores belong to the user.
    if (auto agent = parse_uint<std::uint8_t>(user.substr(us + 1), 3, 255)) {
      j.agent = *agent;
      user = user.substr(0, us);
    }
  }
  if (j.server == server::kInterop) {
    if (const auto dash = user.find('-'); dash != std::string_view::npos) {
      if (auto integ = parse_uint<std::uint16_t>(user.substr(0, dash), 5, 65535)) {
        j.integrator = *integ;
        user = user.substr(dash + 1);
      }
    }
  }
  j.user = std::string(user);
  return j;
}

std::string Jid::to_string() const {
  std::string out;
  out.reserve(user.size() + server.size() + 16);
  if (server == server::kInterop && (integrator != 0 || device)) {
    out += std::to_string(integrator);
    out += '-';
  }
  out += user;
  if (agent != 0) {
    out += '_';
    out += std::to_string(agent);
  }
  if (device) {
    out += ':';
    out += std::to_string(*device);
  }
  out += '@';
  out += server;
  return out;
}

std::strong_ordering operator<=>(const Jid& a, const Jid& b) {
  auto key = [](const Jid& j) {
    return std::make_tuple(std::string_view(j.server), std::string_view(j.user), j.agent,
                           j.device.has_value(), j.device.value_or(0), j.integrator);
  };
  const auto ka = key(a);
  const auto kb = key(b);
  if (ka < kb) return std::strong_ordering::less;
  if (kb < ka) return std::strong_ordering::greater;
  return std::strong_ordering::equal;
}

}  // namespace wa::binary
