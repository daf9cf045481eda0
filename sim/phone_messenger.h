// Virtual phones as primary devices (device 0) that send and receive text (issue 8), so a test
// or the demo can chat with a connector account without Baileys. Each phone's Signal state is a
// PhoneSignalStore; its keys are uploaded to the PreKeyServer on first use like a device's
// upload; sending fetches bundles from the PreKeyServer and routes through the MessageRouter
// like a device's <message>; reading takes what the router holds for device 0 and decrypts it.
// io thread only.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/binary/jid.h"
#include "sim/group_registry.h"
#include "sim/message_router.h"
#include "sim/phone_registry.h"
#include "sim/prekey_server.h"

namespace wa::sim {

struct PhoneSent {
  std::string id;
  std::size_t devices = 0;  // device payloads in the stanza
  std::string error;        // the router's ack error ("" = accepted)
};

struct PhoneReceived {
  std::string id;
  std::string chat;    // the sender's user JID, or the group JID
  std::string sender;  // the sender's device JID
  std::string type;    // "text", "sender_key_distribution", ... (core's MessageContent type)
  std::optional<std::string> text;
  std::string error;  // why it did not decrypt ("" = fine)
  bool offline = false;
};

class PhoneMessenger {
 public:
  static constexpr std::size_t kMaxInbox = 10000;  // oldest dropped beyond this

  PhoneMessenger(std::filesystem::path state_dir, PreKeyServer& keys, MessageRouter& router,
                 GroupRegistry& groups);
  ~PhoneMessenger();
  // A text to a user JID (all their devices) or a group JID the phone is in. Throws
  // std::invalid_argument for a destination it cannot send to.
  PhoneSent send_text(const PhoneRecord& phone, const wa::binary::Jid& to, const std::string& text);
  // Decrypts what arrived since the last call and returns everything received so far.
  const std::vector<PhoneReceived>& inbox(const PhoneRecord& phone);

 private:
  struct Phone;
  Phone& phone(const PhoneRecord& rec);
  std::filesystem::path dir_;
  PreKeyServer& keys_;
  MessageRouter& router_;
  GroupRegistry& groups_;
  std::map<std::uint64_t, std::unique_ptr<Phone>> phones_;
};

}  // namespace wa::sim
