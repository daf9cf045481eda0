// wasim as a message server (issue 8): what a logged-in device sends besides keepalives and
// pairing — pre-key upload / count / bundle fetch (prekey_server), usync device lists, w:g2
// group info, <message> routing, <receipt> relay, the client's <ack>s — and the offline batch at
// login. io thread only (sessions live there).
//
// Every routed stanza stays pending for its device (<state>/queue.log, append-only, see
// sim/pending_queue.h) until that device
// acks it (or sends a receipt for the message): a device that was offline, or that dropped the
// connection before acking, gets it again at its next login, marked offline, followed by
// <ib><offline count=N/></ib>. A device pair (sender device → recipient device) has a session
// once a pkmsg went between them (either way) (<state>/sessions.tsv); until then a msg for that
// device is refused with <ack error="409">, since the recipient could not decrypt it.
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/binary/node.h"
#include "sim/addressing.h"
#include "sim/device_registry.h"
#include "sim/group_registry.h"
#include "sim/pending_queue.h"
#include "sim/prekey_server.h"
#include "sim/session_hub.h"

namespace wa::sim {

class WaSession;

class MessageRouter {
 public:
  using DeviceKey = SessionHub::DeviceKey;
  static constexpr std::size_t kMaxPendingPerDevice = 10000;
  static constexpr std::size_t kMaxTargets = 4096;     // <to> elements in one <message>
  static constexpr std::size_t kMaxIdLength = 128;     // stanza ids
  static constexpr std::size_t kMaxFetchUsers = 1024;  // <user> elements in one usync / key fetch
  // The ack error for a msg to a device that never got a pkmsg from the sender's device.
  static constexpr const char* kNoSessionError = "409";

  MessageRouter(std::filesystem::path state_dir, DeviceRegistry& devices, SessionHub& hub, PreKeyServer& keys,
                GroupRegistry& groups);

  // A stanza from the logged-in device `from` on `session`. True when it was handled here (the
  // reply, if any, has been sent); false leaves it to the default replies (sim/stanzas.h).
  bool handle(WaSession& session, DeviceKey from, const wa::binary::Node& n);
  // Right after <success>: the pending stanzas, then <ib><offline count=N/></ib>.
  void on_login(WaSession& session, DeviceKey d);
  // A companion was linked with these registration keys (PreKeyServer::register_device).
  void device_linked(DeviceKey d, DeviceKeys keys) { keys_.register_device(d, std::move(keys)); }
  // The device was logged out: its keys, pending stanzas and sessions go.
  void forget(DeviceKey d);

  std::size_t pending(DeviceKey d) const;
  // Routes a <message> as sent by device `from` (also a virtual phone's device 0): the ack for
  // the sender (nullopt when the stanza has no usable id).
  std::optional<wa::binary::Node> route(DeviceKey from, const wa::binary::Node& msg);
  // Removes and returns everything pending for `d` (a virtual phone reading its messages).
  std::vector<wa::binary::Node> take_pending(DeviceKey d);
  // The devices a user has: linked companions plus the primary (0) when it uploaded keys.
  std::vector<std::uint32_t> devices_of(std::uint64_t user) const;
  // A <receipt> from device `from` (a companion's, or a virtual phone's): it settles that
  // device's pending message with this id and goes to every other device of the message's author.
  // False when it names no author (nothing relayed).
  bool relay_receipt(DeviceKey from, const wa::binary::Node& receipt);
  // Called whenever something was queued for a primary device (device 0): wasim plays the
  // phones, so the simulator lets the phone read it (deferred, not from inside route()).
  void on_primary_pending(std::function<void(std::uint64_t user)> f) { on_primary_ = std::move(f); }

 private:
  bool on_iq(WaSession& session, DeviceKey from, const wa::binary::Node& iq);
  void on_message(WaSession& session, DeviceKey from, const wa::binary::Node& msg);
  void on_receipt(WaSession& session, DeviceKey from, const wa::binary::Node& receipt);
  void on_ack(DeviceKey from, const wa::binary::Node& ack);
  wa::binary::Node usync(const wa::binary::Node& iq) const;
  wa::binary::Node fetch_bundles(const wa::binary::Node& iq);
  wa::binary::Node group_info(const wa::binary::Node& iq, DeviceKey from, Addressing mode) const;
  // Queues `stanza` for `to` and sends it now when `to` is online. False when its queue is full.
  bool post(DeviceKey to, const std::string& cls, const std::string& id, const wa::binary::Node& stanza);
  void save_sessions() const;

  PendingQueue queue_;  // stanzas (dictionary 3 encoded) per device until acked
  std::filesystem::path sessions_file_;
  DeviceRegistry& devices_;
  SessionHub& hub_;
  PreKeyServer& keys_;
  GroupRegistry& groups_;
  std::function<void(std::uint64_t)> on_primary_;
  std::set<std::pair<DeviceKey, DeviceKey>> sessions_;  // device pairs (smaller first) with a session
};

}  // namespace wa::sim
