// WhatsApp JIDs ("user[_agent][:device]@server"), as both the binary format and the text form
// (Baileys spelling: agent after '_'; interop JIDs as "integrator-user:device@interop").
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wa::binary {

namespace server {
inline constexpr std::string_view kUser = "s.whatsapp.net";
inline constexpr std::string_view kLid = "lid";
inline constexpr std::string_view kGroup = "g.us";
inline constexpr std::string_view kBroadcast = "broadcast";
inline constexpr std::string_view kNewsletter = "newsletter";
inline constexpr std::string_view kLegacyUser = "c.us";
inline constexpr std::string_view kMessenger = "msgr";
inline constexpr std::string_view kInterop = "interop";
inline constexpr std::string_view kHosted = "hosted";
inline constexpr std::string_view kHostedLid = "hosted.lid";
inline constexpr std::string_view kBot = "bot";
}  // namespace server

struct Jid {
  std::string user;    // empty for a server JID such as "@s.whatsapp.net"
  std::string server;  // never empty in a valid JID
  // AD_JID domain byte kept as a raw agent when it names no server (whatsmeow RawAgent); 0 = none.
  std::uint8_t agent = 0;
  // Present when the JID names a device, including device 0 ("user:0@..."), which Baileys and
  // AD_JID keep distinct from "user@...".
  std::optional<std::uint16_t> device;
  std::uint16_t integrator = 0;  // INTEROP_JID only

  // Parses the text form; nullopt when `s` is not a JID (no '@', empty server, '@' in the
  // server, a ':device' that is not a number 0..65535, ...).
  static std::optional<Jid> parse(std::string_view s);
  std::string to_string() const;

  bool is_server() const { return user.empty(); }
  bool is_user() const { return server == server::kUser; }
  bool is_lid() const { return server == server::kLid; }
  bool is_group() const { return server == server::kGroup; }
  bool is_broadcast() const { return server == server::kBroadcast; }
  bool is_status_broadcast() const { return is_broadcast() && user == "status"; }
  bool is_newsletter() const { return server == server::kNewsletter; }
  bool is_device() const { return device.has_value(); }
  // The account JID without agent or device ("user@server"), e.g. to compare people.
  Jid to_non_ad() const { return Jid{user, server, 0, std::nullopt, 0}; }

  friend bool operator==(const Jid&, const Jid&) = default;
  friend std::strong_ordering operator<=>(const Jid& a, const Jid& b);
};

}  // namespace wa::binary
