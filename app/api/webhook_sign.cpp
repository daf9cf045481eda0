#include "app/api/webhook_sign.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdexcept>
#include <vector>

namespace wa::app::api {
namespace {

constexpr std::string_view kPrefix = "whsec_";

std::string base64(const unsigned char* p, std::size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), p, static_cast<int>(n));
  out.resize(static_cast<std::size_t>(len));
  return out;
}

// Strict standard base64 with padding; nullopt-like empty + ok=false on any other character.
bool unbase64(std::string_view s, std::vector<unsigned char>& out) {
  if (s.empty() || s.size() % 4 != 0 || s.size() > 256) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    const bool pad_ok = c == '=' && i >= s.size() - 2 && (i == s.size() - 1 || s[s.size() - 1] == '=');
    if (!alnum && c != '+' && c != '/' && !pad_ok) return false;
  }
  out.assign(s.size() / 4 * 3, 0);
  const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  if (n < 0) return false;
  std::size_t len = static_cast<std::size_t>(n);
  if (s.back() == '=') --len;
  if (s.size() >= 2 && s[s.size() - 2] == '=') --len;
  out.resize(len);
  return true;
}

}  // namespace

std::string generate_webhook_secret() {
  unsigned char key[32];
  if (RAND_bytes(key, sizeof key) != 1) throw std::runtime_error("no randomness for a webhook secret");
  return std::string(kPrefix) + base64(key, sizeof key);
}

std::string validate_webhook_secret(std::string_view secret) {
  std::vector<unsigned char> key;
  if (secret.substr(0, kPrefix.size()) != kPrefix || !unbase64(secret.substr(kPrefix.size()), key) ||
      key.size() < 24 || key.size() > 64)
    return "secret must be whsec_ followed by the base64 of 24-64 bytes";
  return {};
}

std::string sign_webhook(std::string_view secret, std::string_view msg_id, std::int64_t timestamp,
                         std::string_view body) {
  std::vector<unsigned char> key;
  if (!validate_webhook_secret(secret).empty() || !unbase64(secret.substr(kPrefix.size()), key))
    throw std::invalid_argument("invalid webhook secret");
  std::string content;
  content.reserve(msg_id.size() + body.size() + 24);
  content.append(msg_id).append(".").append(std::to_string(timestamp)).append(".").append(body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(content.data()),
           content.size(), mac, &mac_len) == nullptr)
    throw std::runtime_error("HMAC-SHA256 failed");
  return "v1," + base64(mac, mac_len);
}

}  // namespace wa::app::api
