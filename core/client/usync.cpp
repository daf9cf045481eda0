#include "core/client/usync.h"

#include <algorithm>
#include <charconv>

#include "core/binary/iq_answer.h"
#include "core/client/stanzas.h"

namespace wa::client {

using binary::Jid;
using binary::Node;
using binary::NodeList;

Node usync_devices_query(const std::string& id, const std::vector<Jid>& users, bool with_lid) {
  if (users.empty() || users.size() > kMaxUsyncUsers) throw std::invalid_argument("usync: 1-1024 users");
  NodeList list;
  list.reserve(users.size());
  for (const auto& u : users) list.push_back(Node{"user", {{"jid", u.to_non_ad()}}, {}});
  Node query{"query", {}, NodeList{Node{"devices", {{"version", std::string("2")}}, {}}}};
  if (with_lid) std::get<NodeList>(query.content).push_back(Node{"lid", {}, {}});
  Node us{"usync",
          {{"sid", id},
           {"mode", std::string("query")},
           {"last", std::string("true")},
           {"index", std::string("0")},
           {"context", std::string("message")}},
          NodeList{std::move(query), Node{"list", {}, std::move(list)}}};
  return iq(id, "get", "usync", {std::move(us)});
}

Jid device_jid(const Jid& user, std::uint16_t device) {
  Jid j = user.to_non_ad();
  if (device != 0) j.device = device;
  return j;
}

namespace {

std::optional<std::uint16_t> parse_device_id(const std::string& s) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty() || v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

}  // namespace

std::vector<UsyncUser> parse_usync_devices(const Node& iq) {
  std::vector<UsyncUser> out;
  for (const auto& [user, jid] :
       binary::answer_items<UsyncError>(iq, {"usync", "list"}, "user", kMaxUsyncUsers, "usync")) {
    const Node& u = *user;
    if (u.child("error")) continue;
    UsyncUser entry;
    entry.user = jid.to_non_ad();
    if (const Node* lid = u.child("lid")) {
      auto l = Jid::parse(lid->attr_text("val").value_or(""));
      if (l && l->is_lid()) entry.lid = l->to_non_ad();
    }
    const Node* devices = u.child("devices");
    const Node* dl = devices ? devices->child("device-list") : nullptr;
    if (!dl) {
      if (entry.lid) out.push_back(std::move(entry));
      continue;
    }
    if (dl->children().size() > kMaxDevicesPerUser) throw UsyncError("usync answer: too many devices for a user");
    std::vector<std::uint16_t> ids;
    for (const auto& d : dl->children()) {
      if (d.tag != "device") continue;
      auto id = parse_device_id(d.attr_text("id").value_or(""));
      if (!id) throw UsyncError("usync answer: bad device id");
      if (d.attr_text("is_hosted").value_or("") == "true") continue;
      ids.push_back(*id);
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    for (auto id : ids) entry.devices.push_back(device_jid(entry.user, id));
    out.push_back(std::move(entry));
  }
  return out;
}

std::optional<std::vector<Jid>> DeviceCache::get(const Jid& user) const {
  auto it = map_.find(user.to_non_ad().to_string());
  if (it == map_.end()) return std::nullopt;
  return it->second;
}

void DeviceCache::put(const Jid& user, std::vector<Jid> devices) {
  map_[user.to_non_ad().to_string()] = std::move(devices);
}

void DeviceCache::invalidate(const Jid& user) { map_.erase(user.to_non_ad().to_string()); }

}  // namespace wa::client
