// Admin routes for a virtual phone's chats (issue 8): POST /admin/phones/{phone}/messages
// {"to": user JID / "+number" / group JID, "text"} -> 200 {id, devices} (409 {error} when the
// router refused it), GET /admin/phones/{phone}/messages -> {messages: [...]} everything the
// phone received, decrypted. Both run on the io thread, where the router lives.
#include <string>

#include "common/log.h"
#include "common/mask.h"
#include "core/binary/json.h"
#include "sim/simulator.h"

namespace wa::sim {
namespace {

std::string json_quoted(const std::string& s) {
  std::string out;
  wa::log::append_json_string(out, s);
  return out;
}

}  // namespace

AdminResponse Simulator::phone_messages(const std::string& phone_text, const AdminRequest& req) {
  auto user = parse_phone(phone_text);
  if (!user) return AdminResponse::error(400, "phone must be 7-15 digits, optionally with a leading '+'");
  auto phone = phones_.find(*user);
  if (!phone) return AdminResponse::error(404, "unknown phone (create it with POST /admin/phones)");
  if (req.method == "GET") {
    return on_io([this, p = *phone] {
      std::string out = "{\"phone\":\"+" + std::to_string(p.user) + "\",\"messages\":[";
      bool first = true;
      for (const auto& m : messenger_.inbox(p)) {
        out += first ? "" : ",";
        first = false;
        out += "{\"id\":" + json_quoted(m.id) + ",\"chat\":" + json_quoted(m.chat) +
               ",\"sender\":" + json_quoted(m.sender) + ",\"type\":" + json_quoted(m.type) +
               ",\"text\":" + (m.text ? json_quoted(*m.text) : "null") +
               ",\"offline\":" + (m.offline ? "true" : "false") +
               ",\"error\":" + (m.error.empty() ? "null" : json_quoted(m.error)) + "}";
      }
      return AdminResponse{200, out + "]}"};
    });
  }
  wa::binary::JsonLimits lim;
  lim.max_size = 64 * 1024 * 5;
  lim.max_depth = 4;
  lim.max_items = 64;
  wa::binary::Json body;
  try {
    body = wa::binary::parse_json(req.body, lim);
  } catch (const wa::binary::JsonError& e) {
    return AdminResponse::error(400, std::string("body is not JSON: ") + e.what());
  }
  const auto* to = body.find("to");
  const auto* text = body.find("text");
  if (!to || to->type != wa::binary::Json::Type::string || !text ||
      text->type != wa::binary::Json::Type::string)
    return AdminResponse::error(400, "body needs {\"to\": JID or +number, \"text\": string}");
  std::optional<wa::binary::Jid> jid;
  if (auto n = parse_phone(to->text); n && to->text.find('@') == std::string::npos)
    jid = wa::binary::Jid{std::to_string(*n), std::string(wa::binary::server::kUser), 0, std::nullopt, 0};
  else
    jid = wa::binary::Jid::parse(to->text);
  if (!jid) return AdminResponse::error(400, "to is neither a JID nor a phone number");
  if (text->text.empty() || text->text.size() > 65536 * 4)
    return AdminResponse::error(400, "text must be 1-65536 characters");
  return on_io([this, p = *phone, j = *jid, t = text->text] {
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
        200, "{\"id\":" + json_quoted(sent.id) + ",\"devices\":" + std::to_string(sent.devices) + "}"};
  });
}

}  // namespace wa::sim
