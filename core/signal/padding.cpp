#include "core/signal/padding.h"

#include <string>

#include "core/crypto/random.h"

namespace wa::signal {

std::uint8_t pad_length_from_random(std::uint8_t r) {
  std::uint8_t n = r & 0x0F;
  return n == 0 ? 15 : n;
}

crypto::Bytes pad(crypto::ByteView plaintext, std::uint8_t n) {
  if (n == 0 || n > kMaxPadding) throw std::invalid_argument("pad: length must be 1..16");
  crypto::Bytes out(plaintext.begin(), plaintext.end());
  out.insert(out.end(), n, n);
  return out;
}

crypto::Bytes pad(crypto::ByteView plaintext) {
  std::uint8_t r = 0;
  crypto::random_fill(std::span<std::uint8_t>(&r, 1));
  return pad(plaintext, pad_length_from_random(r));
}

crypto::Bytes unpad(crypto::ByteView padded) {
  if (padded.empty()) throw PaddingError("unpad: empty plaintext");
  std::uint8_t n = padded.back();
  if (n == 0 || n > kMaxPadding) throw PaddingError("unpad: invalid pad length " + std::to_string(n));
  if (n > padded.size())
    throw PaddingError("unpad: pad length " + std::to_string(n) + " exceeds plaintext of " +
                       std::to_string(padded.size()) + " bytes");
  for (std::size_t i = padded.size() - n; i < padded.size(); ++i)
    if (padded[i] != n) throw PaddingError("unpad: pad bytes are not all " + std::to_string(n));
  return crypto::Bytes(padded.begin(), padded.end() - n);
}

}  // namespace wa::signal
