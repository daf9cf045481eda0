#include "core/binary/frame.h"

#include <zlib.h>

#include <memory>
#include <stdexcept>

#include "core/binary/decoder.h"

namespace wa::binary {
namespace {

struct InflateStream {
  z_stream zs{};
  bool ok = false;
  InflateStream() { ok = inflateInit(&zs) == Z_OK; }
  ~InflateStream() {
    if (ok) inflateEnd(&zs);
  }
  InflateStream(const InflateStream&) = delete;
  InflateStream& operator=(const InflateStream&) = delete;
};

struct DeflateStream {
  z_stream zs{};
  bool ok = false;
  DeflateStream() { ok = deflateInit(&zs, Z_DEFAULT_COMPRESSION) == Z_OK; }
  ~DeflateStream() {
    if (ok) deflateEnd(&zs);
  }
  DeflateStream(const DeflateStream&) = delete;
  DeflateStream& operator=(const DeflateStream&) = delete;
};

}  // namespace

Bytes unpack_frame(std::span<const std::uint8_t> frame, std::size_t max_inflated) {
  if (frame.empty()) throw DecodeError(0, "empty frame: expected the flag byte");
  const auto body = frame.subspan(1);
  if ((frame[0] & kFlagCompressed) == 0) return Bytes(body.begin(), body.end());

  InflateStream s;
  if (!s.ok) throw std::runtime_error("zlib inflateInit failed");
  s.zs.next_in = const_cast<Bytef*>(body.data());  // zlib's API is not const-correct
  s.zs.avail_in = static_cast<uInt>(body.size());
  Bytes out;
  // Grow in steps; never beyond max_inflated + 1 byte (the extra byte detects overflow).
  constexpr std::size_t kStep = 64 * 1024;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    const std::size_t have = out.size();
    if (have > max_inflated)
      throw DecodeError(0, "compressed frame inflates beyond the limit of " + std::to_string(max_inflated) + " bytes");
    const std::size_t room = std::min(kStep, max_inflated + 1 - have);
    out.resize(have + room);
    s.zs.next_out = out.data() + have;
    s.zs.avail_out = static_cast<uInt>(room);
    rc = inflate(&s.zs, Z_NO_FLUSH);
    out.resize(have + (room - s.zs.avail_out));
    if (rc == Z_STREAM_END) break;
    if (rc == Z_BUF_ERROR && s.zs.avail_in == 0)
      throw DecodeError(0, "compressed frame is truncated (zlib stream ends early)");
    if (rc != Z_OK && rc != Z_BUF_ERROR)
      throw DecodeError(0, std::string("compressed frame is corrupt: ") + (s.zs.msg != nullptr ? s.zs.msg : "zlib error"));
  }
  if (out.size() > max_inflated)
    throw DecodeError(0, "compressed frame inflates beyond the limit of " + std::to_string(max_inflated) + " bytes");
  if (s.zs.avail_in != 0)
    throw DecodeError(0, std::to_string(s.zs.avail_in) + " bytes after the end of the zlib stream");
  return out;
}

Bytes compress_frame(std::span<const std::uint8_t> node_bytes) {
  DeflateStream s;
  if (!s.ok) throw std::runtime_error("zlib deflateInit failed");
  Bytes out(1 + deflateBound(&s.zs, static_cast<uLong>(node_bytes.size())));
  out[0] = kFlagCompressed;
  s.zs.next_in = const_cast<Bytef*>(node_bytes.data());
  s.zs.avail_in = static_cast<uInt>(node_bytes.size());
  s.zs.next_out = out.data() + 1;
  s.zs.avail_out = static_cast<uInt>(out.size() - 1);
  if (deflate(&s.zs, Z_FINISH) != Z_STREAM_END) throw std::runtime_error("zlib deflate failed");
  out.resize(1 + s.zs.total_out);
  return out;
}

}  // namespace wa::binary
