// Admin routes for virtual phones and linked devices (issue 4): create phones, link a QR or a
// pair code as the phone would, list a device's connections, log a device out, drill stream
// errors. Everything touching a live session runs on the io thread (Simulator::on_io).
#include <future>
#include <string>

#include "common/log.h"
#include "common/mask.h"
#include "core/binary/jid.h"
#include "core/binary/json.h"
#include "core/crypto/bytes.h"
#include "sim/addressing.h"
#include "sim/simulator.h"
#include "sim/wa_session.h"

namespace wa::sim {
namespace {

constexpr std::string_view kPhones = "/admin/phones/";
constexpr std::string_view kDevices = "/admin/devices/";

// The request body as a JSON object; an empty body is {}. Throws std::invalid_argument.
wa::binary::Json body_object(const AdminRequest& req) {
  if (req.body.find_first_not_of(" \t\r\n") == std::string::npos) {
    wa::binary::Json empty;
    empty.type = wa::binary::Json::Type::object;
    return empty;
  }
  wa::binary::JsonLimits lim;
  lim.max_size = 64 * 1024;
  lim.max_depth = 8;
  lim.max_items = 256;
  wa::binary::Json j;
  try {
    j = wa::binary::parse_json(req.body, lim);
  } catch (const wa::binary::JsonError& e) {
    throw std::invalid_argument(std::string("body is not JSON: ") + e.what());
  }
  if (j.type != wa::binary::Json::Type::object) throw std::invalid_argument("body must be a JSON object");
  return j;
}

std::optional<std::string> string_field(const wa::binary::Json& j, std::string_view key) {
  const auto* v = j.find(key);
  if (!v || v->type != wa::binary::Json::Type::string) return std::nullopt;
  return v->text;
}

std::string quoted(const std::string& s) {
  std::string out;
  wa::log::append_json_string(out, s);
  return out;
}

// "15550001:3@s.whatsapp.net" -> (user, device); companions only (device > 0).
std::optional<SessionHub::DeviceKey> parse_device_jid(const std::string& text) {
  auto jid = wa::binary::Jid::parse(text);
  if (!jid || !jid->is_user() || !jid->device || *jid->device == 0 || jid->agent != 0) return std::nullopt;
  auto user = parse_phone(jid->user);
  if (!user || std::to_string(*user) != jid->user) return std::nullopt;
  return SessionHub::DeviceKey{*user, *jid->device};
}

std::string device_jid(SessionHub::DeviceKey d) {
  return std::to_string(d.first) + ":" + std::to_string(d.second) + "@s.whatsapp.net";
}

// "XXXX-XXXX" or "XXXXXXXX" in the linking-code alphabet (case-insensitive) -> 8 characters.
std::optional<std::string> parse_link_code(const std::string& text) {
  static constexpr std::string_view kAlphabet = "123456789ABCDEFGHJKLMNPQRSTVWXYZ";
  std::string code;
  for (std::size_t i = 0; i < text.size() && i < 16; ++i) {
    char c = text[i];
    if (c == '-' && i == 4) continue;
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (kAlphabet.find(c) == std::string_view::npos) return std::nullopt;
    code += c;
  }
  if (code.size() != 8 || text.size() > 9) return std::nullopt;
  return code;
}

AdminResponse from_outcome(const AdminOutcome& o) {
  AdminResponse r;
  r.status = o.status;
  r.body = o.body;
  return r;
}

}  // namespace

void Simulator::register_phone_routes() {
  admin_->route("POST", "/admin/phones", [this](const AdminRequest& req) {
    wa::binary::Json body;
    try {
      body = body_object(req);
    } catch (const std::invalid_argument& e) {
      return AdminResponse::error(400, e.what());
    }
    auto text = string_field(body, "phone");
    if (!text) return AdminResponse::error(400, "body needs {\"phone\": \"+<digits>\"}");
    auto user = parse_phone(*text);
    if (!user) return AdminResponse::error(400, "phone must be 7-15 digits, optionally with a leading '+', not starting with 0");
    bool created = false;
    PhoneRecord p = phones_.create(*user, created);
    wa::log::info("wasim_phone").kv("phone", wa::mask_phone(std::to_string(*user))).kv("created", created);
    // The phone is a messaging primary from the start: its device 0 has keys, so clients that
    // list the account's devices encrypt for it too.
    auto active = on_io([this, p] {
      messenger_.activate(p);
      return AdminResponse{200, ""};
    });
    if (active.status != 200) return active;
    return AdminResponse{created ? 201 : 200, "{\"phone\":\"+" + std::to_string(p.user) + "\",\"user\":\"" +
                                                  std::to_string(p.user) + "\",\"lid\":\"" +
                                                  lid_jid(p.user).to_string() + "\",\"account_public_key\":\"" +
                                                  wa::crypto::to_hex(p.account.pub) + "\",\"created\":" +
                                                  (created ? "true" : "false") + "}"};
  });

  admin_->route_prefix("GET", std::string(kPhones), [this](const AdminRequest& req) {
    const std::string rest = req.path.substr(kPhones.size());
    if (const auto slash = rest.find('/'); slash != std::string::npos && rest.substr(slash) == "/messages")
      return phone_messages(rest.substr(0, slash), req);
    auto user = parse_phone(rest);
    if (!user || rest.find('/') != std::string::npos) return AdminResponse::error(404, "no such endpoint: " + req.path);
    auto phone = phones_.find(*user);
    if (!phone) return AdminResponse::error(404, "unknown phone");
    return on_io([this, p = *phone] {
      std::string out = "{\"phone\":\"+" + std::to_string(p.user) + "\",\"lid\":\"" + lid_jid(p.user).to_string() +
                        "\",\"account_public_key\":\"" +
                        wa::crypto::to_hex(p.account.pub) + "\",\"devices\":[";
      bool first = true;
      for (const auto& d : devices_.all()) {
        if (d.user != p.user) continue;
        if (!first) out += ',';
        first = false;
        out += "{\"jid\":" + quoted(device_jid({d.user, d.device})) + ",\"added_ms\":" + std::to_string(d.added_ms) +
               ",\"online\":" + (hub_.live({d.user, d.device}) ? "true" : "false") + "}";
      }
      return AdminResponse{200, out + "]}"};
    });
  });

  admin_->route_prefix("POST", std::string(kPhones), [this](const AdminRequest& req) {
    const std::string rest = req.path.substr(kPhones.size());
    const auto slash = rest.find('/');
    if (slash == std::string::npos) return AdminResponse::error(404, "no such endpoint: " + req.path);
    const std::string action = rest.substr(slash + 1);
    if (action == "messages") return phone_messages(rest.substr(0, slash), req);
    if (action == "read") return phone_read(rest.substr(0, slash), req);
    if (action != "link" && action != "link-code") return AdminResponse::error(404, "no such endpoint: " + req.path);
    auto user = parse_phone(rest.substr(0, slash));
    if (!user) return AdminResponse::error(400, "phone must be 7-15 digits, optionally with a leading '+'");
    auto phone = phones_.find(*user);
    if (!phone) return AdminResponse::error(404, "unknown phone (create it with POST /admin/phones)");
    wa::binary::Json body;
    try {
      body = body_object(req);
    } catch (const std::invalid_argument& e) {
      return AdminResponse::error(400, e.what());
    }
    if (action == "link") {
      auto qr_text = string_field(body, "qr");
      if (!qr_text) return AdminResponse::error(400, "body needs {\"qr\": \"...\"}");
      ScannedQr qr;
      try {
        qr = parse_qr(*qr_text);
      } catch (const std::invalid_argument& e) {
        return AdminResponse::error(400, std::string("bad QR: ") + e.what());
      }
      return on_io([this, qr, p = *phone] {
        bool any_expired = false;
        for (WaSession* s : hub_.pairing()) {
          bool expired = false;
          if (!s->issued_ref(qr.ref, expired)) continue;
          if (expired) {
            any_expired = true;
            continue;
          }
          return from_outcome(s->link_qr(qr, p));
        }
        if (any_expired) return AdminResponse::error(410, "the ref has expired");
        return AdminResponse::error(404, "unknown ref: no connection is waiting for pairing with it");
      });
    }
    auto code_text = string_field(body, "code");
    if (!code_text) return AdminResponse::error(400, "body needs {\"code\": \"XXXX-XXXX\"}");
    auto code = parse_link_code(*code_text);
    if (!code) return AdminResponse::error(400, "code must be 8 characters of the linking-code alphabet");
    auto done = std::make_shared<std::promise<AdminOutcome>>();
    auto fut = done->get_future();
    auto started = on_io([this, code = *code, p = *phone, done] {
      WaSession* waiting = nullptr;
      for (WaSession* s : hub_.pairing())
        if (s->waits_for_code(p.user)) waiting = s;  // the newest hello wins, as a phone shows one
      if (!waiting) return AdminResponse::error(404, "no connection asked for a pair code for this phone");
      waiting->link_code(code, p, done);
      return AdminResponse{202, ""};
    });
    if (started.status != 202) return started;
    // The outcome comes with the client's companion_finish (it runs PBKDF2 too).
    if (fut.wait_for(std::chrono::seconds(20)) != std::future_status::ready)
      return AdminResponse::error(504, "the client did not finish pair-code linking within 20 s");
    return from_outcome(fut.get());
  });

  admin_->route_prefix("GET", std::string(kDevices), [this](const AdminRequest& req) {
    const std::string rest = req.path.substr(kDevices.size());
    const auto slash = rest.rfind('/');
    if (slash == std::string::npos || rest.substr(slash + 1) != "connections")
      return AdminResponse::error(404, "no such endpoint: " + req.path);
    auto key = parse_device_jid(rest.substr(0, slash));
    if (!key) return AdminResponse::error(400, "expected a device JID like 15550001:3@s.whatsapp.net");
    return AdminResponse{200, log_.device_connections_json(device_jid(*key))};
  });

  admin_->route_prefix("POST", std::string(kDevices), [this](const AdminRequest& req) {
    const std::string rest = req.path.substr(kDevices.size());
    const auto slash = rest.rfind('/');
    const std::string action = slash == std::string::npos ? "" : rest.substr(slash + 1);
    if (action != "logout" && action != "stream-error" && action != "replace")
      return AdminResponse::error(404, "no such endpoint: " + req.path);
    auto key = parse_device_jid(rest.substr(0, slash));
    if (!key) return AdminResponse::error(400, "expected a device JID like 15550001:3@s.whatsapp.net");
    wa::binary::Json body;
    try {
      body = body_object(req);
    } catch (const std::invalid_argument& e) {
      return AdminResponse::error(400, e.what());
    }
    if (action == "logout") {
      return on_io([this, k = *key] {
        if (!devices_.find(k.first, k.second)) return AdminResponse::error(404, "unknown device");
        devices_.remove(k.first, k.second);
        hub_.forget(k);
        router_.forget(k);
        const bool online = hub_.live(k) != nullptr;
        // As for a device removed on the phone: 401 + device_removed, and it is forgotten.
        if (WaSession* s = hub_.live(k)) s->stream_error(401, "device_removed", "logged out: device removed");
        wa::log::info("wasim_device_logged_out").kv("jid", wa::mask_jid(device_jid(k))).kv("was_online", online);
        return AdminResponse{200, "{\"jid\":" + quoted(device_jid(k)) + ",\"was_online\":" + (online ? "true" : "false") + "}"};
      });
    }
    if (action == "replace") {
      // What the live connection sees when the device logs in elsewhere with the same keys (a
      // copied store): <stream:error><conflict type="replaced"/>, then the close. The newer login
      // itself is not simulated (tests/e2e makes a real one); the drills need only its effect.
      return on_io([this, k = *key] {
        WaSession* s = hub_.live(k);
        if (!s) return AdminResponse::error(409, "the device has no live connection");
        s->stream_error(-1, "replaced", "replaced by a newer login elsewhere (admin drill)");
        return AdminResponse{200, "{\"jid\":" + quoted(device_jid(k)) + ",\"replaced\":true}"};
      });
    }
    const auto* c = body.find("code");
    int code = 0;
    if (c && c->type == wa::binary::Json::Type::number && c->text.size() == 3 &&
        c->text.find_first_not_of("0123456789") == std::string::npos)
      code = std::stoi(c->text);
    if (code < 100 || code > 999) return AdminResponse::error(400, "body needs {\"code\": 100-999}");
    return on_io([this, k = *key, code] {
      WaSession* s = hub_.live(k);
      if (!s) return AdminResponse::error(409, "the device has no live connection");
      s->stream_error(code, "", "stream error " + std::to_string(code) + " (admin drill)");
      return AdminResponse{200, "{\"jid\":" + quoted(device_jid(k)) + ",\"code\":" + std::to_string(code) + "}"};
    });
  });
}

}  // namespace wa::sim
