#include "fleet_pairing.h"

#include <map>

#include <fmt/format.h>

#include "../app/http_client.h"
#include "core/binary/json.h"

namespace wa::e2e {

std::int64_t pair_published(const hatest::TestDb& db, Wasim& wasim, std::int64_t count,
                            std::chrono::milliseconds timeout,
                            const std::function<std::string(const std::string& business_id)>& phone_of) {
  auto c = db.connect("pairing");
  std::map<std::string, std::string> scanned;  // business_id -> the QR scanned
  std::int64_t paired = 0;
  const auto json = "Content-Type: application/json\r\n";
  hatest::wait_for(
      [&] {
        auto r = c.exec("QRs", "SELECT business_id, qr_code FROM wa_accounts WHERE jid IS NULL AND qr_code IS NOT NULL");
        int scans = 0;
        for (int i = 0; i < r.rows() && scans < 8; ++i) {
          const std::string id(r.text(i, 0));
          const std::string qr(r.text(i, 1));
          if (scanned[id] == qr) continue;
          ++scans;
          const auto phone = phone_of(id);
          // 409: the phone exists already (a rescan).
          const auto p = test::http_request(wasim.admin_port(), "POST", "/admin/phones",
                                            fmt::format("{{\"phone\":\"{}\"}}", phone), json);
          if (p.status != 409 && (p.status < 200 || p.status >= 300)) continue;
          std::string body = "{\"qr\":";
          binary::append_json_string(body, qr);
          body += "}";
          // A QR that expired meanwhile is answered 4xx: the next round reads the new one.
          const auto l = test::http_request(wasim.admin_port(), "POST", "/admin/phones/" + phone + "/link", body, json);
          if (l.status >= 200 && l.status < 300) scanned[id] = qr;
        }
        paired = c.exec("paired", "SELECT count(*) FROM wa_accounts WHERE jid IS NOT NULL AND status = 'connected'")
                     .i64(0, 0);
        return paired >= count;
      },
      timeout);
  return paired;
}

int logged_in_count(hatest::Replica& pod) {
  const int port = pod.http_port(std::chrono::seconds(2));
  if (port <= 0) return 0;
  int n = 0;
  try {
    const auto j = binary::parse_json(hatest::http_get(port, "/status").body);
    if (const auto* accounts = j.find("accounts"))
      for (const auto& a : accounts->items)
        if (const auto* c = a.find("connection");
            c != nullptr && c->type == binary::Json::Type::string && c->text == "logged_in")
          ++n;
  } catch (const std::exception&) {
    // a pod between answers (restarting, not listening yet): counted at the next call
  }
  return n;
}

}  // namespace wa::e2e
