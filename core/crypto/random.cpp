#include "core/crypto/random.h"

#include <climits>

#include <openssl/rand.h>

#include "core/crypto/crypto_error.h"

namespace wa::crypto {

void random_fill(std::span<std::uint8_t> out) {
  std::size_t done = 0;
  while (done < out.size()) {
    std::size_t chunk = std::min<std::size_t>(out.size() - done, INT_MAX);
    if (RAND_bytes(out.data() + done, static_cast<int>(chunk)) != 1) throw_openssl_error("RAND_bytes");
    done += chunk;
  }
}

Bytes random_bytes(std::size_t n) {
  Bytes b(n);
  random_fill(b);
  return b;
}

}  // namespace wa::crypto
