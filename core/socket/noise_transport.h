// Post-handshake frame encryption: AES-256-GCM, empty AD, a separate counter per direction,
// each starting at 0 after the split.
#pragma once

#include <cstdint>

#include "core/crypto/bytes.h"

namespace wa::socket {

using crypto::ByteView;
using crypto::Bytes;
using crypto::Key32;

class NoiseTransport {
 public:
  NoiseTransport(const Key32& write_key, const Key32& read_key);
  ~NoiseTransport();
  NoiseTransport(NoiseTransport&&) = default;
  NoiseTransport& operator=(NoiseTransport&&) = default;
  NoiseTransport(const NoiseTransport&) = delete;
  NoiseTransport& operator=(const NoiseTransport&) = delete;

  Bytes encrypt(ByteView plaintext);
  // Throws crypto::CryptoError when the frame does not authenticate. The read counter advances
  // anyway (as WhatsApp's clients do), so one bad frame does not desynchronise the next.
  Bytes decrypt(ByteView ciphertext);

  std::uint32_t write_counter() const { return write_n_; }
  std::uint32_t read_counter() const { return read_n_; }

 private:
  Key32 write_key_;
  Key32 read_key_;
  std::uint32_t write_n_ = 0;
  std::uint32_t read_n_ = 0;
};

}  // namespace wa::socket
