// Signal protocol addresses as whatsmeow names them (e2e reference §1.1): name = JID user plus
// "_<domain>" for non-phone-number domains (lid 1, hosted 128, hosted.lid 129, else the JID's raw
// agent), device = the JID's device (0 when absent). The string form "name:device" is the store key
// (whatsmeow's their_id / sender_id).
#pragma once

#include <compare>
#include <cstdint>
#include <string>

#include "core/binary/jid.h"

namespace wa::signal {

struct Address {
  std::string name;
  std::uint32_t device = 0;

  // Throws std::invalid_argument for a JID without a user part (a server JID names nobody).
  static Address from_jid(const binary::Jid& jid);
  // "name:device"
  std::string to_string() const;

  friend bool operator==(const Address&, const Address&) = default;
  friend std::strong_ordering operator<=>(const Address&, const Address&) = default;
};

// The domain suffix number of a JID's server (0 = phone-number user, no suffix).
std::uint8_t signal_domain(const binary::Jid& jid);

// A sender key is named by the group JID text ("120363…@g.us") and the sender's address.
struct SenderKeyName {
  std::string group;
  Address sender;

  friend bool operator==(const SenderKeyName&, const SenderKeyName&) = default;
  friend std::strong_ordering operator<=>(const SenderKeyName&, const SenderKeyName&) = default;
};

}  // namespace wa::signal
