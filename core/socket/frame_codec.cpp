#include "core/socket/frame_codec.h"

namespace wa::socket {

Bytes connection_header(std::uint8_t dict_version) { return Bytes{'W', 'A', kWaMagic, dict_version}; }

void append_frame(Bytes& out, ByteView payload) {
  if (payload.size() > kMaxFrameSize) {
    throw FrameError("payload of " + std::to_string(payload.size()) + " bytes exceeds the 3-byte length limit");
  }
  const auto n = static_cast<std::uint32_t>(payload.size());
  out.push_back(static_cast<std::uint8_t>(n >> 16));
  out.push_back(static_cast<std::uint8_t>(n >> 8));
  out.push_back(static_cast<std::uint8_t>(n));
  out.insert(out.end(), payload.begin(), payload.end());
}

Bytes encode_frame(ByteView payload) {
  Bytes out;
  out.reserve(payload.size() + 3);
  append_frame(out, payload);
  return out;
}

FrameReader::FrameReader(bool expect_header, Limits limits)
    : expect_header_(expect_header), limits_(limits), in_(limits.max_buffered) {}

void FrameReader::feed(ByteView data) {
  in_.feed(
      data,
      [this] { return expect_header_ && !header_ ? parse_header() : parse_frame(); },
      [this](StreamBuffer::Refusal r) {
        return r == StreamBuffer::Refusal::used_after_error
                   ? FrameError("reader used after an error")
                   : FrameError("more than " + std::to_string(limits_.max_buffered) + " bytes buffered");
      });
}

std::optional<Bytes> FrameReader::next_frame() { return take_front(frames_); }

bool FrameReader::parse_header() {
  const ByteView in = in_.unparsed();
  const std::size_t avail = in.size();
  const std::uint8_t* p = in.data();
  std::size_t off = 0;
  ConnectionHeader h;
  // Baileys prepends "ED" 0 1 <3-byte length> <routing info> when it holds routing info.
  if (avail >= 1 && p[0] == 'E') {
    static constexpr std::uint8_t kEd[] = {'E', 'D', 0, 1};
    for (std::size_t i = 1; i < 4 && i < avail; ++i) {
      if (p[i] != kEd[i]) throw FrameError("bad routing-info prefix");
    }
    if (avail < 7) return false;
    std::size_t n = static_cast<std::size_t>(p[4]) << 16 | static_cast<std::size_t>(p[5]) << 8 | p[6];
    if (n > limits_.max_routing_info) {
      throw FrameError("routing info of " + std::to_string(n) + " bytes exceeds " + std::to_string(limits_.max_routing_info));
    }
    if (avail < 7 + n) return false;
    h.routing_info.assign(p + 7, p + 7 + n);
    off = 7 + n;
  }
  if (avail < off + 4) {
    // Reject garbage early instead of waiting for 4 bytes.
    for (std::size_t i = off; i < avail && i < off + 3; ++i) {
      const std::uint8_t want = i - off == 0 ? 'W' : i - off == 1 ? 'A' : kWaMagic;
      if (p[i] != want) throw FrameError("bad connection header");
    }
    return false;
  }
  if (p[off] != 'W' || p[off + 1] != 'A') throw FrameError("connection header does not start with \"WA\"");
  if (p[off + 2] != kWaMagic) throw FrameError("unsupported header magic " + std::to_string(p[off + 2]));
  h.dict_version = p[off + 3];
  in_.consume(off + 4);
  header_ = std::move(h);
  return true;
}

bool FrameReader::parse_frame() {
  const ByteView in = in_.unparsed();
  const std::size_t avail = in.size();
  if (avail < 3) return false;
  const std::uint8_t* p = in.data();
  const std::size_t n = static_cast<std::size_t>(p[0]) << 16 | static_cast<std::size_t>(p[1]) << 8 | p[2];
  if (n > limits_.max_frame_size) {
    throw FrameError("frame of " + std::to_string(n) + " bytes exceeds the limit of " +
                     std::to_string(limits_.max_frame_size));
  }
  if (avail < 3 + n) return false;
  frames_.emplace_back(p + 3, p + 3 + n);
  in_.consume(3 + n);
  return true;
}

}  // namespace wa::socket
