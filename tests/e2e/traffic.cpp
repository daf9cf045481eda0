#include "traffic.h"

#include <cstdio>
#include <stdexcept>

#include <fmt/format.h>

#include "../app/http_client.h"
#include "core/binary/json.h"
#include "support.h"

namespace wa::e2e {
namespace {

std::string jstr(const binary::Json* j) {
  return j && j->type == binary::Json::Type::string ? j->text : "";
}

}  // namespace

std::string user_jid_of_device(const std::string& jid) {
  const auto at = jid.find('@');
  const auto colon = jid.find(':');
  if (at == std::string::npos) return jid;
  return jid.substr(0, std::min(colon, at)) + jid.substr(at);
}

std::string user_jid_of_phone(const std::string& phone) {
  return (phone.rfind('+', 0) == 0 ? phone.substr(1) : phone) + "@s.whatsapp.net";
}

PhoneSend phone_send(int admin_port, const std::string& from_phone, const std::string& to,
                     const std::string& text) {
  std::string body = "{\"to\":";
  binary::append_json_string(body, to);
  body += ",\"text\":";
  binary::append_json_string(body, text);
  body += "}";
  PhoneSend out;
  try {
    auto r = test::http_request(admin_port, "POST", "/admin/phones/" + from_phone + "/messages", body,
                                "Content-Type: application/json\r\n");
    out.status = r.status;
    out.reply = r.body;
    if (r.status == 200) out.id = jstr(binary::parse_json(r.body).find("id"));
  } catch (const std::exception& e) {
    out.status = 0;
    out.reply = e.what();
  }
  return out;
}

std::optional<std::vector<PhoneMessage>> phone_messages(int admin_port, const std::string& phone,
                                                        std::string* error) {
  try {
    auto r = test::http_request(admin_port, "GET", "/admin/phones/" + phone + "/messages");
    if (r.status != 200) throw std::runtime_error(fmt::format("HTTP {}: {}", r.status, r.body));
    auto j = binary::parse_json(r.body);
    const auto* list = j.find("messages");
    if (list == nullptr || list->type != binary::Json::Type::array)
      throw std::runtime_error("no messages array");
    std::vector<PhoneMessage> out;
    for (const auto& m : list->items) {
      PhoneMessage x;
      x.id = jstr(m.find("id"));
      x.chat = jstr(m.find("chat"));
      x.sender = jstr(m.find("sender"));
      x.text = jstr(m.find("text"));
      x.error = jstr(m.find("error"));
      x.enc = jstr(m.find("enc"));
      const auto* off = m.find("offline");
      x.offline = off && off->type == binary::Json::Type::boolean && off->boolean;
      const auto* copies = m.find("copies");
      if (copies && copies->type == binary::Json::Type::number) x.copies = std::stol(copies->text);
      out.push_back(std::move(x));
    }
    return out;
  } catch (const std::exception& e) {
    if (error) *error = fmt::format("GET /admin/phones/{}/messages: {}", phone, e.what());
    return std::nullopt;
  }
}

std::optional<std::vector<InboxRow>> inbox(const std::string& database_url, const std::string& business_id,
                                           std::string* error) {
  const auto cmd = fmt::format(
      "WACONN_LOG_LEVEL=error '{}/waconnector' messages list --database-url '{}' --business-id {} --json "
      "2>&1",
      hatest::bin_dir(), database_url, business_id);
  std::FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) {
    if (error) *error = "popen failed";
    return std::nullopt;
  }
  std::string out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  if (::pclose(p) != 0) {
    if (error) *error = "messages list failed: " + out;
    return std::nullopt;
  }
  std::vector<InboxRow> rows;
  try {
    std::size_t pos = 0;
    while (pos < out.size()) {
      auto nl = out.find('\n', pos);
      if (nl == std::string::npos) nl = out.size();
      const auto line = out.substr(pos, nl - pos);
      pos = nl + 1;
      if (line.empty()) continue;
      auto j = binary::parse_json(line);
      rows.push_back({jstr(j.find("id")), jstr(j.find("chat")), jstr(j.find("from")), jstr(j.find("text"))});
    }
  } catch (const std::exception& e) {
    if (error)
      *error = std::string("messages list printed something else than JSON lines: ") + e.what() + "\n" + out;
    return std::nullopt;
  }
  return rows;
}

}  // namespace wa::e2e
