// libFuzzer: the WA frame reader (connection header with optional ED prefix, 3-byte lengths,
// reassembly across arbitrary piece boundaries). Output frames must respect the limit.
#include <cstddef>
#include <cstdint>

#include "core/socket/frame_codec.h"

using namespace wa::socket;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t mode = data[0];
  ByteView in(data + 1, size - 1);
  FrameReader::Limits limits;
  limits.max_frame_size = 1 << 16;
  limits.max_routing_info = 512;
  limits.max_buffered = (1 << 16) + 1024;
  FrameReader reader(mode & 1, limits);
  const std::size_t chunk = 1 + (mode >> 1);
  std::size_t total = 0;
  try {
    for (std::size_t off = 0; off < in.size(); off += chunk) {
      reader.feed(in.subspan(off, std::min(chunk, in.size() - off)));
      while (auto f = reader.next_frame()) {
        if (f->size() > limits.max_frame_size) __builtin_trap();
        total += f->size() + 3;
      }
    }
  } catch (const FrameError&) {
    return 0;
  }
  // Without a header every byte is either in a frame (3 + payload) or still buffered.
  if (!(mode & 1) && total + reader.buffered() != in.size()) __builtin_trap();
  return 0;
}
