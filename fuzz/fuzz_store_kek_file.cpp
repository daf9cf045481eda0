// libFuzzer: the KEK file parser (store/sealing.h KekRing::parse). Any text either yields keys of
// 32 bytes with 16-hex-digit ids, or a SealingError that does not echo the text.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "store/sealing.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 1 << 16) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const auto ring = wa::store::KekRing::parse(text, "fuzz");
    if (ring.keys().empty()) __builtin_trap();
    for (const auto& k : ring.keys())
      if (k.id.size() != 16 || ring.find(k.id) == nullptr) __builtin_trap();
  } catch (const wa::store::SealingError& e) {
    // The message must not carry key-like text of the file (it could be a key with a typo).
    const std::string what = e.what();
    const auto head = text.substr(0, 40);
    if (size >= 40 &&
        head.find_first_not_of("0123456789abcdefABCDEFghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ+/=") ==
            std::string_view::npos &&
        what.find(head) != std::string::npos)
      __builtin_trap();
  }
  return 0;
}
