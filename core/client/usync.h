// Device lists (e2e reference §3.1): the usync query for users' devices, its answer, and the
// per-user cache the sender keeps (whatsmeow caches in memory too). A device notification for a
// user, or a server ack whose phash disagrees with ours, invalidates that user's entry.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/error.h"
#include "core/binary/node.h"

namespace wa::client {

using UsyncError = wa::Error<struct UsyncErrorTag>;

// Caps on an answer (outside bytes): more users than we asked for at most, devices per user.
inline constexpr std::size_t kMaxUsyncUsers = 1024;
inline constexpr std::size_t kMaxDevicesPerUser = 128;

// <iq xmlns="usync" type="get"><usync sid mode="query" last="true" index="0" context="message">
// <query><devices version="2"/></query><list><user jid/>…</list></usync></iq>. Users are sent
// without device (to_non_ad). Throws std::invalid_argument for an empty or too long list.
// With `with_lid` the query also asks for each user's LID (<lid/>), answered as <lid val>.
binary::Node usync_devices_query(const std::string& id, const std::vector<binary::Jid>& users,
                                 bool with_lid = false);

struct UsyncUser {
  binary::Jid user;                   // non-AD
  std::vector<binary::Jid> devices;   // device JIDs (device 0 written without ":0"), ascending
  std::optional<binary::Jid> lid;     // <lid val> when the answer carried one
};

// Parses the answer (usync → list → user). A user with an <error> or no <devices> gets no entry.
// Hosted devices (is_hosted="true") are left out: we do not address hosted accounts. Throws
// UsyncError for an error iq or a malformed answer.
std::vector<UsyncUser> parse_usync_devices(const binary::Node& iq);

// The device JID of `user`'s device `device` (0 = the primary, written without a device part,
// as the server and whatsmeow write it).
binary::Jid device_jid(const binary::Jid& user, std::uint16_t device);

class DeviceCache {
 public:
  std::optional<std::vector<binary::Jid>> get(const binary::Jid& user) const;
  void put(const binary::Jid& user, std::vector<binary::Jid> devices);
  void invalidate(const binary::Jid& user);
  void clear() { map_.clear(); }
  std::size_t size() const { return map_.size(); }

 private:
  std::map<std::string, std::vector<binary::Jid>> map_;  // key: non-AD user JID text
};

}  // namespace wa::client
