#include "app/qr_endpoint.h"

#include <array>
#include <cctype>
#include <cstdlib>
#include <exception>
#include <memory>

#include <fmt/format.h>

#include "app/qr_render.h"
#include "common/log.h"
#include "common/utc_time.h"
#include "store/accounts.h"
#include "store/connection_pool.h"

namespace wa::app {
namespace {

constexpr std::string_view kPrefix = "/v1/accounts/";
constexpr std::string_view kSuffix = "/qr";
constexpr std::size_t kMaxAcceptRanges = 32;  // more than any real client sends

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto x = static_cast<unsigned char>(a[i]);
    const auto y = static_cast<unsigned char>(b[i]);
    if (std::tolower(x) != std::tolower(y)) return false;
  }
  return true;
}

// q parameter in 0..1; malformed values count as 0 (the range is ignored), as RFC 9110 allows.
double parse_q(std::string_view v) {
  v = trim(v);
  if (v.empty() || v.size() > 5) return 0.0;
  std::string s(v);
  char* end = nullptr;
  const double q = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !(q >= 0.0 && q <= 1.0)) return 0.0;
  return q;
}

std::string iso8601_utc(std::int64_t ms) {
  return fmt::format("{}.{:03}Z", format_utc(ms, "%Y-%m-%dT%H:%M:%S"), static_cast<int>(ms % 1000));
}

HttpResponse not_found(std::string_view message, const std::optional<PairingState>& s) {
  auto r = HttpResponse::json_error(404, message, s ? "not_pairing" : "not_found");
  if (s) {
    // The account's state beside the error: why there is no QR (paired already, logged out...).
    r.body.pop_back();
    r.body += ",\"status\":";
    log::append_json_string(r.body, s->status);
    r.body += ",\"paired\":";
    r.body += s->jid ? "true" : "false";
    r.body += '}';
  }
  return r;
}

}  // namespace

std::optional<QrFormat> choose_qr_format(std::string_view accept, std::string_view query) {
  // ?format= wins: a browser cannot set Accept from the address bar.
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto part = query.substr(0, amp);
    if (part.substr(0, 7) == "format=") {
      const auto v = part.substr(7);
      if (v == "json") return QrFormat::json;
      if (v == "png") return QrFormat::png;
      if (v == "svg") return QrFormat::svg;
      return std::nullopt;
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  if (trim(accept).empty()) return QrFormat::json;

  // For each format the q of the most specific matching range (exact 2 > type/* 1 > */* 0).
  struct Offer {
    QrFormat format;
    std::string_view type, subtype;
    double q = -1;
    int specificity = -1;
  };
  std::array<Offer, 3> offers{{{QrFormat::json, "application", "json"},
                               {QrFormat::png, "image", "png"},
                               {QrFormat::svg, "image", "svg+xml"}}};
  std::size_t ranges = 0;
  while (!accept.empty() && ranges++ < kMaxAcceptRanges) {
    const auto comma = accept.find(',');
    auto range = accept.substr(0, comma);
    accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
    double q = 1.0;
    const auto semi = range.find(';');
    auto media = trim(range.substr(0, semi));
    if (semi != std::string_view::npos) {
      auto params = range.substr(semi + 1);
      while (!params.empty()) {
        const auto next = params.find(';');
        auto p = trim(params.substr(0, next));
        if (p.size() >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') q = parse_q(p.substr(2));
        params = next == std::string_view::npos ? std::string_view() : params.substr(next + 1);
      }
    }
    const auto slash = media.find('/');
    if (slash == std::string_view::npos) continue;
    const auto type = media.substr(0, slash);
    const auto sub = media.substr(slash + 1);
    for (auto& o : offers) {
      int spec = -1;
      if (type == "*" && sub == "*")
        spec = 0;
      else if (iequals(type, o.type) && sub == "*")
        spec = 1;
      else if (iequals(type, o.type) && iequals(sub, o.subtype))
        spec = 2;
      if (spec > o.specificity) {
        o.specificity = spec;
        o.q = q;
      }
    }
  }
  // Highest q wins; ties go to the earlier offer (JSON, then PNG, then SVG).
  const Offer* best = nullptr;
  for (const auto& o : offers)
    if (o.q > 0 && (best == nullptr || o.q > best->q)) best = &o;
  if (best == nullptr) return std::nullopt;
  return best->format;
}

HttpResponse handle_qr_request(const HttpRequest& req, const PairingStateReader& reader) {
  std::string_view path = req.path;
  if (path.substr(0, kPrefix.size()) != kPrefix || path.size() < kPrefix.size() + kSuffix.size() ||
      path.substr(path.size() - kSuffix.size()) != kSuffix)
    return HttpResponse::json_error(404, "no such resource");
  const std::string business_id(path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size()));
  if (auto e = store::validate_business_id(business_id); !e.empty())
    return HttpResponse::json_error(400, fmt::format("bad business id: {}", e));
  const auto format = choose_qr_format(req.accept, req.query);
  if (!format)
    return HttpResponse::json_error(406, "acceptable formats: application/json, image/png, image/svg+xml");

  std::optional<PairingState> state;
  try {
    state = reader(business_id);
  } catch (const std::exception& e) {
    log::warn("qr_read_failed").kv("business_id", business_id).kv("error", e.what());
    return HttpResponse::json_error(503, "database unavailable");
  }
  if (!state) return not_found(fmt::format("business {} is not registered", business_id), state);
  if (!state->qr) return not_found(fmt::format("business {} is not pairing (no live QR)", business_id), state);

  try {
    switch (*format) {
      case QrFormat::png:
        return {200, "image/png", render_png(encode_qr(*state->qr)), {}};
      case QrFormat::svg:
        return {200, "image/svg+xml", render_svg(encode_qr(*state->qr)), {}};
      case QrFormat::json:
        break;
    }
  } catch (const QrRenderError& e) {
    // A stored string we cannot render: the leader wrote something wrong. Say so, not the string.
    log::error("qr_render_failed").kv("business_id", business_id).kv("error", e.what());
    return HttpResponse::json_error(500, "the stored QR cannot be rendered");
  }
  std::string body = "{\"business_id\":";
  log::append_json_string(body, business_id);
  body += ",\"qr\":";
  log::append_json_string(body, *state->qr);
  if (state->expires_at_ms) {
    body += ",\"expires_at\":";
    log::append_json_string(body, iso8601_utc(*state->expires_at_ms));
    body += fmt::format(",\"expires_at_ms\":{},\"expires_in_ms\":{}", *state->expires_at_ms,
                        *state->expires_at_ms - state->db_now_ms);
  } else {
    body += ",\"expires_at\":null,\"expires_at_ms\":null,\"expires_in_ms\":null";
  }
  body += '}';
  return {200, "application/json", body, {}};
}

PairingStateReader pg_pairing_state_reader(std::string database_url) {
  auto pool = std::make_shared<store::ConnectionPool>(std::move(database_url), "waconnector/qr");
  return [pool](const std::string& business_id) {
    return pool->with([&](pg::Connection& c) { return store::read_pairing_state(c, business_id); });
  };
}

void register_qr_routes(HttpServer& server, PairingStateReader reader) {
  server.add_route("GET", std::string(kPrefix),
                   [reader = std::move(reader)](const HttpRequest& req) { return handle_qr_request(req, reader); });
}

}  // namespace wa::app
