// WhatsApp's framing inside the WebSocket byte stream: the one-time connection header
// ("WA", 6, dictionary version; optionally preceded by Baileys' "ED" routing prefix) and frames
// of a 3-byte big-endian length followed by that many bytes. WebSocket message boundaries mean
// nothing here: a message may hold several frames or part of one.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <stdexcept>
#include <string>

#include "core/crypto/bytes.h"
#include "core/socket/stream_buffer.h"

namespace wa::socket {

using crypto::ByteView;
using crypto::Bytes;

inline constexpr std::uint8_t kWaMagic = 6;
inline constexpr std::uint8_t kDictVersion = 3;
// Largest payload a 3-byte length can carry.
inline constexpr std::size_t kMaxFrameSize = (1u << 24) - 1;

class FrameError : public std::runtime_error {
 public:
  explicit FrameError(const std::string& what) : std::runtime_error("frame: " + what) {}
};

// "WA" 0x06 <dict_version>; also the Noise prologue.
Bytes connection_header(std::uint8_t dict_version = kDictVersion);

// 3-byte length + payload. Throws FrameError if payload.size() > kMaxFrameSize.
Bytes encode_frame(ByteView payload);
void append_frame(Bytes& out, ByteView payload);

struct ConnectionHeader {
  std::uint8_t dict_version = 0;
  Bytes routing_info;  // from an "ED" prefix, empty if none
  Bytes prologue() const { return connection_header(dict_version); }
};

// Incremental reader for one direction of a connection. The server side sets
// expect_header = true and gets the client's header (dictionary version) before any frame.
class FrameReader {
 public:
  struct Limits {
    std::size_t max_frame_size = kMaxFrameSize;
    std::size_t max_routing_info = 4096;
    std::size_t max_buffered = kMaxFrameSize + 3 + 4096;
  };

  explicit FrameReader(bool expect_header = false) : FrameReader(expect_header, Limits{}) {}
  FrameReader(bool expect_header, Limits limits);

  // Throws FrameError (bad header, frame over the limit, too much buffered); the connection must
  // then be closed.
  void feed(ByteView data);
  std::optional<Bytes> next_frame();
  // Set once the header has been read (server side).
  const std::optional<ConnectionHeader>& header() const { return header_; }
  std::size_t buffered() const { return in_.size(); }

 private:
  bool parse_header();
  bool parse_frame();

  bool expect_header_;
  Limits limits_;
  StreamBuffer in_;
  std::optional<ConnectionHeader> header_;
  std::deque<Bytes> frames_;
};

}  // namespace wa::socket
