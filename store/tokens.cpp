#include "store/tokens.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <stdexcept>

#include <fmt/format.h>

#include "store/accounts.h"
#include "store/row.h"
#include "store/utf8.h"

namespace wa::store {
namespace {

constexpr std::string_view kPrefix = "wac_";
constexpr std::size_t kIdChars = 16;
constexpr std::size_t kSecretChars = 43;  // base64url of 32 bytes, no padding

constexpr const char* kColumns =
    "id, business_id, name, (extract(epoch FROM created_at) * 1000)::bigint,"
    " (extract(epoch FROM revoked_at) * 1000)::bigint";

ApiToken row(const pg::Result& r, int i) {
  ApiToken t;
  t.id = std::string(r.text(i, 0));
  t.business_id = std::string(r.text(i, 1));
  t.name = std::string(r.text(i, 2));
  t.created_at_ms = r.i64(i, 3);
  if (!r.is_null(i, 4)) t.revoked_at_ms = r.i64(i, 4);
  return t;
}

void random_bytes(unsigned char* out, std::size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) != 1) throw std::runtime_error("no randomness for an API token");
}

bool is_hex_lower(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
bool is_b64url(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

std::string base64url(const unsigned char* p, std::size_t n) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::size_t i = 0; i < n; ++i) {
    acc = (acc << 8) | p[i];
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(acc >> bits) & 0x3f];
    }
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 0x3f];
  return out;
}

// The business a token id belongs to ("" if none), through the narrow wa_api_token_business():
// a request presents a token before anyone knows its business.
std::string token_business(pg::Connection& conn, const std::string& id) {
  auto r = conn.exec("find the business of an API token", "SELECT coalesce(wa_api_token_business($1), '')", {id});
  return std::string(r.text(0, 0));
}

}  // namespace

std::vector<std::uint8_t> token_hash(std::string_view token) {
  std::vector<std::uint8_t> out(SHA256_DIGEST_LENGTH);
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), out.data());
  return out;
}

std::optional<std::string> token_id(std::string_view token) {
  if (token.size() != kPrefix.size() + kIdChars + 1 + kSecretChars || token.substr(0, kPrefix.size()) != kPrefix)
    return std::nullopt;
  const auto id = token.substr(kPrefix.size(), kIdChars);
  const auto secret = token.substr(kPrefix.size() + kIdChars + 1);
  if (token[kPrefix.size() + kIdChars] != '_' || !std::all_of(id.begin(), id.end(), is_hex_lower) ||
      !std::all_of(secret.begin(), secret.end(), is_b64url))
    return std::nullopt;
  return std::string(id);
}

CreatedToken create_token(pg::Connection& conn, const std::string& business_id, const std::string& name) {
  pg::TenantScope tenant(conn, business_id);  // row-level security (0011)
  const auto chars = utf8_length(name);
  if (!chars) throw StoreError("token name is not valid UTF-8");
  if (*chars > kMaxTokenNameChars)
    throw StoreError(fmt::format("token name has {} characters; the limit is {}", *chars, kMaxTokenNameChars));
  std::array<unsigned char, 8> id_bytes{};
  std::array<unsigned char, 32> secret{};
  random_bytes(id_bytes.data(), id_bytes.size());
  random_bytes(secret.data(), secret.size());
  std::string id;
  for (auto b : id_bytes) id += fmt::format("{:02x}", b);
  CreatedToken out;
  out.secret_token = std::string(kPrefix) + id + "_" + base64url(secret.data(), secret.size());
  OPENSSL_cleanse(secret.data(), secret.size());
  const auto purpose = fmt::format("create API token for business {}", business_id);
  auto r = conn.exec(purpose,
                     (std::string("INSERT INTO wa_api_tokens (id, business_id, name, token_hash)"
                                  " SELECT $1, business_id, $3, $4 FROM wa_accounts WHERE business_id = $2"
                                  " RETURNING ") +
                      kColumns)
                         .c_str(),
                     {id, business_id, name, pg::Param::bytes(token_hash(out.secret_token))});
  if (r.rows() == 0) throw NotFound(fmt::format("business {} is not registered", business_id));
  out.token = row(r, 0);
  return out;
}

std::vector<ApiToken> list_tokens(pg::Connection& conn, const std::string& business_id) {
  pg::TenantScope tenant(conn, business_id.empty() ? account_ids(conn) : std::vector<std::string>{business_id});
  auto r = conn.exec("list API tokens",
                     (std::string("SELECT ") + kColumns +
                      " FROM wa_api_tokens WHERE ($1 = '' OR business_id = $1) ORDER BY created_at, id")
                         .c_str(),
                     {business_id});
  return pg::read_rows<ApiToken>(r, row);
}

bool revoke_token(pg::Connection& conn, const std::string& id) {
  pg::TenantScope tenant(conn, token_business(conn, id));  // row-level security (0011)
  auto r = conn.exec("revoke API token",
                     "UPDATE wa_api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id",
                     {id});
  return r.rows() > 0;
}

std::optional<std::string> verify_token(pg::Connection& conn, std::string_view presented) {
  const auto id = token_id(presented);
  if (!id) return std::nullopt;
  pg::TenantScope tenant(conn, token_business(conn, *id));  // row-level security (0011)
  auto r = conn.exec("verify API token",
                     "SELECT business_id, token_hash FROM wa_api_tokens WHERE id = $1 AND revoked_at IS NULL", {*id});
  if (r.rows() == 0) return std::nullopt;
  const auto stored = r.bytes(0, 1);
  const auto given = token_hash(presented);
  if (stored.size() != given.size() || CRYPTO_memcmp(stored.data(), given.data(), given.size()) != 0)
    return std::nullopt;
  return std::string(r.text(0, 0));
}

}  // namespace wa::store
