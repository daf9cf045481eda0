#include "app/api/auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <cstdlib>
#include <exception>
#include <fstream>
#include <stdexcept>

#include <fmt/format.h>

#include "common/log.h"

namespace wa::app::api {
namespace {

constexpr std::size_t kMaxTokenChars = 512;

std::vector<unsigned char> sha256(std::string_view s) {
  std::vector<unsigned char> out(SHA256_DIGEST_LENGTH);
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), out.data());
  return out;
}

HttpResponse unauthorized(std::string_view message) {
  auto r = HttpResponse::json_error(401, message);
  r.headers = "WWW-Authenticate: Bearer\r\n";
  return r;
}

bool iequals_ascii(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

}  // namespace

std::optional<std::string_view> bearer_token(std::string_view h) {
  while (!h.empty() && (h.front() == ' ' || h.front() == '\t')) h.remove_prefix(1);
  while (!h.empty() && (h.back() == ' ' || h.back() == '\t')) h.remove_suffix(1);
  if (h.size() < 7 || !iequals_ascii(h.substr(0, 6), "bearer") || (h[6] != ' ' && h[6] != '\t')) return std::nullopt;
  h.remove_prefix(7);
  while (!h.empty() && (h.front() == ' ' || h.front() == '\t')) h.remove_prefix(1);
  if (h.empty()) return std::nullopt;
  return h;
}

Authenticator::Authenticator(std::string admin_token, TokenVerifier verify) : verify_(std::move(verify)) {
  if (!admin_token.empty()) admin_hash_ = sha256(admin_token);
  OPENSSL_cleanse(admin_token.data(), admin_token.size());
}

std::variant<Principal, HttpResponse> Authenticator::authenticate(const HttpRequest& req) const {
  if (req.authorization.empty()) return unauthorized("missing Authorization: Bearer token");
  const auto token = bearer_token(req.authorization);
  if (!token) return unauthorized("Authorization must be 'Bearer <token>'");
  if (token->size() > kMaxTokenChars) return unauthorized("invalid token");
  // Hashes of equal length, compared in constant time: the time taken says nothing about how
  // much of the admin token a guess got right.
  if (!admin_hash_.empty()) {
    const auto h = sha256(*token);
    if (CRYPTO_memcmp(h.data(), admin_hash_.data(), h.size()) == 0) return Principal{true, {}};
  }
  if (!verify_) return unauthorized("invalid token");
  std::optional<std::string> business;
  try {
    business = verify_(*token);
  } catch (const std::exception& e) {
    wa::log::warn("api_token_check_failed").kv("error", e.what());
    return HttpResponse::json_error(503, "database unavailable; try again", "unavailable");
  }
  if (!business) return unauthorized("invalid or revoked token");
  return Principal{false, std::move(*business)};
}

std::optional<HttpResponse> Authenticator::authorize(const Principal& p, std::string_view business_id) {
  if (p.admin || p.business_id == business_id) return std::nullopt;
  return HttpResponse::json_error(403, "this token may not act for that business");
}

std::optional<HttpResponse> Authenticator::require_admin(const Principal& p) {
  if (p.admin) return std::nullopt;
  return HttpResponse::json_error(403, "this endpoint needs the admin token");
}

std::string load_admin_token(const std::string& file, const char* env_name) {
  std::string token;
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) throw std::runtime_error(fmt::format("cannot read the admin token file {}", file));
    std::getline(in, token);
  } else if (const char* v = std::getenv(env_name); v != nullptr) {
    token = v;
  }
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ' || token.back() == '\t')) token.pop_back();
  while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.erase(token.begin());
  if (!token.empty() && token.size() < kMinAdminTokenChars)
    throw std::runtime_error(fmt::format("the admin token must be at least {} characters", kMinAdminTokenChars));
  return token;
}

}  // namespace wa::app::api
