// Admin routes for a virtual phone's chats (issue 8): POST /admin/phones/{phone}/messages
// {"to": user JID / LID / "+number" / group JID, "text"} -> 200 {id, devices} (409 {error} when
// the router refused it), GET /admin/phones/{phone}/messages -> {messages: [...], receipts:
// [...]} everything the phone received, decrypted, and the receipts for what it sent,
// POST /admin/phones/{phone}/read {"ids": [...]} -> {read: [ids]} read receipts. All run on the
// io thread, where the router lives.
#include <string>

#include "common/log.h"
#include "common/mask.h"
#include "core/binary/json.h"
#include "sim/addressing.h"
#include "sim/simulator.h"

namespace wa::sim {
namespace {

// Characters, as WhatsApp counts its 65,536 limit (the text is valid UTF-8 from the JSON parser).
std::size_t utf8_chars(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

}  // namespace

AdminResponse Simulator::phone_messages(const std::string& phone_text, const AdminRequest& req) {
  const auto phone = known_phone(phone_text);
  if (req.method == "GET") {
    return on_io([this, p = phone] {
      std::string out = "{\"phone\":\"+" + std::to_string(p.user) + "\",\"messages\":[";
      bool first = true;
      for (const auto& m : messenger_.inbox(p)) {
        out += first ? "" : ",";
        first = false;
        out += "{\"id\":" + json_quoted(m.id) + ",\"chat\":" + json_quoted(m.chat) +
               ",\"sender\":" + json_quoted(m.sender) + ",\"type\":" + json_quoted(m.type) +
               ",\"text\":" + (m.text ? json_quoted(*m.text) : "null") + ",\"enc\":" + json_quoted(m.enc) +
               (m.reply_to ? ",\"reply_to\":" + json_quoted(*m.reply_to) : std::string()) +
               ",\"offline\":" + (m.offline ? "true" : "false") + ",\"read\":" + (m.read ? "true" : "false") + ",\"copies\":" + std::to_string(m.copies) +
               ",\"error\":" + (m.error.empty() ? "null" : json_quoted(m.error)) + "}";
      }
      out += "],\"receipts\":[";
      first = true;
      for (const auto& r : messenger_.receipts(p)) {
        out += first ? "" : ",";
        first = false;
        out += "{\"id\":" + json_quoted(r.id) + ",\"from\":" + json_quoted(r.from) +
               ",\"type\":" + json_quoted(r.type) + "}";
      }
      return AdminResponse{200, out + "]}"};
    });
  }
  // A 65,536-character text JSON-escaped fits kMaxAdminBody.
  const auto body = json_object_body(req, {kMaxAdminBody, 4, 64});
  const auto to = string_field(body, "to");
  const auto text = string_field(body, "text");
  if (!to || !text) return AdminResponse::error(400, "body needs {\"to\": JID or +number, \"text\": string}");
  std::optional<wa::binary::Jid> jid;
  if (auto n = parse_phone(*to); n && to->find('@') == std::string::npos)
    jid = pn_jid(*n);
  else
    jid = wa::binary::Jid::parse(*to);
  if (jid && jid->is_lid() && !jid->is_device())  // an account's LID names the same account
    if (auto d = device_of(*to)) jid = pn_jid(d->first);
  if (!jid) return AdminResponse::error(400, "to is neither a JID nor a phone number");
  if (text->empty() || utf8_chars(*text) > 65536)
    return AdminResponse::error(400, "text must be 1-65536 characters");
  return on_io([this, p = phone, j = *jid, t = *text] {
    PhoneSent sent;
    try {
      sent = messenger_.send_text(p, j, t);
    } catch (const std::invalid_argument& e) {
      return AdminResponse::error(400, e.what());
    }
    wa::log::info("wasim_phone_sent")
        .kv("phone", wa::mask_phone(std::to_string(p.user)))
        .kv("devices", sent.devices);
    if (!sent.error.empty())
      return AdminResponse::error(409, "the server refused the message: error " + sent.error);
    return AdminResponse{
        200, "{\"id\":" + json_quoted(sent.id) + ",\"devices\":" + std::to_string(sent.devices) +
                 ",\"pkmsg\":" + std::to_string(sent.pkmsg) + ",\"msg\":" + std::to_string(sent.msg) + "}"};
  });
}

}  // namespace wa::sim

namespace wa::sim {

AdminResponse Simulator::phone_read(const std::string& phone_text, const AdminRequest& req) {
  const auto phone = known_phone(phone_text);
  const auto body = json_object_body(req, {256 * 1024, 4, 1024});
  const auto* ids = body.find("ids");
  if (!ids || ids->type != wa::binary::Json::Type::array || ids->items.empty())
    return AdminResponse::error(400, "body needs {\"ids\": [message id, ...]} (1-1024 ids)");
  std::vector<std::string> want;
  for (const auto& i : ids->items) {
    if (i.type != wa::binary::Json::Type::string || i.text.empty() || i.text.size() > 128)
      return AdminResponse::error(400, "ids must be strings of 1-128 bytes");
    want.push_back(i.text);
  }
  return on_io([this, p = phone, want] {
    std::string out = "{\"read\":[";
    bool first = true;
    for (const auto& id : messenger_.mark_read(p, want)) {
      out += first ? "" : ",";
      first = false;
      out += json_quoted(id);
    }
    return AdminResponse{200, out + "]}"};
  });
}

}  // namespace wa::sim
