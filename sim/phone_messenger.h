// Virtual phones as primary devices (device 0) that send and receive text (issue 8), so a test
// or the demo can chat with a connector account without Baileys. Each phone's Signal state is a
// PhoneSignalStore; its keys are uploaded to the PreKeyServer on first use like a device's
// upload; sending fetches bundles from the PreKeyServer and routes through the MessageRouter
// like a device's <message> (with DeviceSentMessage copies for the phone's own companions);
// receiving takes what the router holds for device 0 as soon as it is queued (the simulator
// wakes the phone), decrypts it and answers each message with a delivery receipt, as an online
// phone does; read receipts on request. Receipts for what the phone sent are recorded. io thread only.
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
  std::size_t pkmsg = 0;    // of which pkmsg (a new session) ...
  std::size_t msg = 0;      // ... and msg (an existing one)
  std::string error;        // the router's ack error ("" = accepted)
};

struct PhoneReceived {
  std::string id;
  std::string chat;    // the sender's user JID, or the group JID
  std::string sender;  // the sender's device JID
  std::string type;    // "text", "sender_key_distribution", ... (core's MessageContent type)
  std::optional<std::string> text;
  std::optional<std::string> reply_to;  // a reply: the quoted message's id
  std::string enc;    // the <enc> types in order, e.g. "pkmsg" or "msg,skmsg"
  std::string error;  // why it did not decrypt ("" = fine)
  bool offline = false;
  bool read = false;  // a read receipt went out for it
  int copies = 1;     // deliveries of this id in this chat (a resend with the same id shows once)
};

struct PhoneReceipt {
  std::string id;    // the message it is for
  std::string from;  // the device that sent it (PN form)
  std::string type;  // "delivery" (no type attribute), "read", "retry", ...
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
  // Receipts for the phone's own messages, oldest first (<= kMaxInbox).
  const std::vector<PhoneReceipt>& receipts(const PhoneRecord& phone);
  // Reads what is queued for device 0: decrypts messages, sends their delivery receipts, records
  // receipts. The simulator calls it whenever something is queued there.
  void receive(const PhoneRecord& phone);
  // Read receipts for these received message ids; returns the ids it knows (others are skipped).
  std::vector<std::string> mark_read(const PhoneRecord& phone, const std::vector<std::string>& ids);
  // Makes the phone a messaging primary: Signal state loaded, keys uploaded (device 0 exists).
  void activate(const PhoneRecord& phone) { (void)this->phone(phone); }

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
