#include "core/client/message_id.h"

#include <cctype>
#include <chrono>
#include <stdexcept>

#include "common/hex.h"
#include "core/crypto/digest.h"
#include "core/crypto/random.h"

namespace wa::client {

std::string make_message_id(std::int64_t unix_seconds, std::string_view own_user, crypto::ByteView random16) {
  if (random16.size() != 16) throw std::invalid_argument("message id: 16 random bytes expected");
  crypto::Bytes data;
  for (int shift = 56; shift >= 0; shift -= 8)
    data.push_back(static_cast<std::uint8_t>(static_cast<std::uint64_t>(unix_seconds) >> shift));
  data.insert(data.end(), own_user.begin(), own_user.end());
  constexpr std::string_view suffix = "@c.us";
  data.insert(data.end(), suffix.begin(), suffix.end());
  data.insert(data.end(), random16.begin(), random16.end());
  const auto hash = crypto::sha256(data);
  std::string hex = wa::to_hex(std::span<const std::uint8_t>(hash.data(), 9));
  for (auto& c : hex) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return "3EB0" + hex;
}

std::string new_message_id(std::string_view own_user) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  const auto r = crypto::random_bytes(16);
  return make_message_id(now, own_user, r);
}

std::string message_id_or(std::string_view caller_id, std::string_view own_user) {
  return caller_id.empty() ? new_message_id(own_user) : std::string(caller_id);
}

}  // namespace wa::client
