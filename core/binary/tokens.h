// Tag bytes and token dictionaries of the WhatsApp binary node format (WABinary).
// Dictionary v3 is what whatsmeow, Baileys 7 and the real service use; v2 is Baileys 6 only.
// The 4th byte of the connection header says which one a peer speaks.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

namespace wa::binary {

enum class Dict : std::uint8_t { v2 = 2, v3 = 3 };

// Tag bytes (reference §5.2).
namespace tag {
inline constexpr std::uint8_t kListEmpty = 0;
inline constexpr std::uint8_t kDictionary0 = 236;  // ..239 = DICTIONARY_3
inline constexpr std::uint8_t kDictionary3 = 239;
inline constexpr std::uint8_t kInteropJid = 245;
inline constexpr std::uint8_t kFbJid = 246;
inline constexpr std::uint8_t kAdJid = 247;
inline constexpr std::uint8_t kList8 = 248;
inline constexpr std::uint8_t kList16 = 249;
inline constexpr std::uint8_t kJidPair = 250;
inline constexpr std::uint8_t kHex8 = 251;
inline constexpr std::uint8_t kBinary8 = 252;
inline constexpr std::uint8_t kBinary20 = 253;
inline constexpr std::uint8_t kBinary32 = 254;
inline constexpr std::uint8_t kNibble8 = 255;
inline constexpr std::size_t kPackedMax = 127;
}  // namespace tag

// Where a string sits in a dictionary: dict < 0 = single-byte token `index`, otherwise
// double-byte dictionary `dict` (0..3) at `index`.
struct TokenIndex {
  int dict = -1;
  std::uint8_t index = 0;
};

class Tokens {
 public:
  // The tables of one dictionary version; built once (thread-safe), then read-only.
  static const Tokens& get(Dict dict);

  // Single-byte token for byte 1..235; nullopt for anything else.
  std::optional<std::string_view> single(std::uint8_t index) const;
  // Double-byte token: dictionary 0..3, index 0..255.
  std::optional<std::string_view> double_byte(unsigned dict, std::uint8_t index) const;
  // Reverse lookup. The empty string is not a token here (index 0 is unused).
  std::optional<TokenIndex> find(std::string_view s) const;

  Tokens(const Tokens&) = delete;
  Tokens& operator=(const Tokens&) = delete;
  ~Tokens();

 private:
  explicit Tokens(Dict dict);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "2" / "3" -> Dict; nullopt for anything else.
std::optional<Dict> parse_dict(std::string_view s);

}  // namespace wa::binary
