// Messages through the real pieces, for tests that run a Cluster: a wasim virtual phone sends to
// the account, what a phone received (wasim's phone view), and the account's inbox as
// `waconnector messages list` prints it. No Catch2 assertion inside, so a traffic thread may call
// them: failures come back as values (a status, an error text) for the test to check.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace wa::e2e {

// "15550001@s.whatsapp.net" from a device JID ("15550001:12@s.whatsapp.net") or a user JID.
std::string user_jid_of_device(const std::string& jid);
// "15550001@s.whatsapp.net" from "+15550001".
std::string user_jid_of_phone(const std::string& phone);

struct PhoneSend {
  int status = 0;  // HTTP status of POST /admin/phones/{phone}/messages; 0: no answer
  std::string id;  // the message id wasim gave it (200 only)
  std::string reply;
};
// The phone `from_phone` sends a text to `to` (a phone, user JID or group JID).
PhoneSend phone_send(int admin_port, const std::string& from_phone, const std::string& to,
                     const std::string& text);

struct PhoneMessage {
  std::string id, chat, sender, text, error;
  std::string enc;  // the <enc> types the phone got: "pkmsg", "msg", "msg,skmsg", ...
  bool offline = false;
  long copies = 1;  // times the phone got this id (a resend with the same id adds one)
};
// What the phone received so far (GET /admin/phones/{phone}/messages); nullopt with `error` set
// when wasim did not answer 200 with the expected JSON.
std::optional<std::vector<PhoneMessage>> phone_messages(int admin_port, const std::string& phone,
                                                        std::string* error = nullptr);

struct InboxRow {
  std::string id, chat, from, text;
};
// `waconnector messages list --json` of the account; nullopt with `error` (the output) when the
// command failed.
std::optional<std::vector<InboxRow>> inbox(const std::string& database_url, const std::string& business_id,
                                           std::string* error = nullptr);

}  // namespace wa::e2e
