// Admin route for groups (issue 8): POST /admin/groups {"subject", "participants": [user JIDs or
// phone numbers]} -> 201 {"jid": "<id>@g.us", subject, participants}. Members must be phones
// wasim knows, so the group has someone to deliver to.
#include <string>

#include "common/log.h"
#include "core/binary/jid.h"
#include "core/binary/json.h"
#include "sim/phone_registry.h"
#include "sim/simulator.h"

namespace wa::sim {

void Simulator::register_group_routes() {
  admin_->route("POST", "/admin/groups", [this](const AdminRequest& req) {
    const auto body = json_object_body(req, {64 * 1024, 4, GroupRegistry::kMaxMembers + 16});
    const auto subject = string_field(body, "subject");
    const auto* parts = body.find("participants");
    if (!subject || !parts || parts->type != wa::binary::Json::Type::array)
      return AdminResponse::error(400, "body needs {\"subject\": string, \"participants\": [user JIDs]}");
    std::vector<std::uint64_t> members;
    for (const auto& p : parts->items) {
      if (p.type != wa::binary::Json::Type::string)
        return AdminResponse::error(400, "participants are strings");
      std::string user = p.text;
      if (auto jid = wa::binary::Jid::parse(p.text)) {
        if (!jid->is_user() || jid->device)
          return AdminResponse::error(400, "participant is not a user JID: " + p.text);
        user = jid->user;
      }
      auto number = parse_phone(user);
      if (!number) return AdminResponse::error(400, "participant is not a phone number: " + p.text);
      if (!phones_.find(*number)) return AdminResponse::error(404, "unknown phone: " + p.text);
      members.push_back(*number);
    }
    GroupRecord g;
    try {
      g = groups_.create(*subject, members);
    } catch (const std::invalid_argument& e) {
      return AdminResponse::error(400, e.what());
    }
    wa::log::info("wasim_group_created").kv("members", g.members.size());
    std::string out =
        "{\"jid\":\"" + g.jid() + "\",\"subject\":" + json_quoted(g.subject) + ",\"participants\":[";
    for (std::size_t i = 0; i < g.members.size(); ++i)
      out += (i ? ",\"" : "\"") + std::to_string(g.members[i]) + "@s.whatsapp.net\"";
    return AdminResponse{201, out + "]}"};
  });
}

}  // namespace wa::sim
