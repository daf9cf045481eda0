// RFC 6455 framing as a pure incremental parser and encoder (no I/O), shared by the WebSocket
// client here and wasim's server. Message-level: data frames are reassembled across
// continuation frames; control frames (which may interleave) come out on their own.
#pragma once

#include <array>
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

enum class WsOpcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

const char* to_string(WsOpcode op);

// Close codes (RFC 6455 §7.4.1) used when we reject the peer's bytes.
namespace ws_close {
inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;
inline constexpr std::uint16_t protocol_error = 1002;
inline constexpr std::uint16_t unsupported_data = 1003;
inline constexpr std::uint16_t invalid_payload = 1007;
inline constexpr std::uint16_t too_big = 1009;
}  // namespace ws_close

// The peer violated RFC 6455 or a limit. close_code() is what to send in our close frame.
class WebSocketError : public std::runtime_error {
 public:
  WebSocketError(std::uint16_t close_code, const std::string& what)
      : std::runtime_error("websocket: " + what), close_code_(close_code) {}
  std::uint16_t close_code() const { return close_code_; }

 private:
  std::uint16_t close_code_;
};

struct WsMessage {
  WsOpcode opcode;  // text, binary, close, ping or pong (never continuation)
  Bytes payload;    // unmasked
};

// Encodes one frame. With a mask key (client->server, required by RFC 6455) the payload is
// masked. Control frames must have payload <= 125 and fin = true (std::invalid_argument otherwise).
Bytes encode_ws_frame(WsOpcode opcode, ByteView payload, bool fin = true,
                      std::optional<std::array<std::uint8_t, 4>> mask = std::nullopt);
// Client-side convenience: a frame masked with a fresh random key.
Bytes encode_ws_frame_masked(WsOpcode opcode, ByteView payload, bool fin = true);
// Close frame payload: 2-byte code then a UTF-8 reason (truncated to fit 125 bytes).
Bytes ws_close_payload(std::uint16_t code, std::string_view reason);

struct WsParserLimits {
  std::size_t max_message_size = 16u << 20;  // reassembled data message; WA's reader uses 16 MiB
  std::size_t max_buffered = (16u << 20) + 64;  // unparsed input held at once
};

class WsFrameParser {
 public:
  // Servers require masked frames from clients; clients require unmasked frames from servers.
  enum class Peer { client, server };

  WsFrameParser(Peer peer, WsParserLimits limits = {});

  // Adds received bytes. Throws WebSocketError on any protocol violation; the parser is then
  // unusable (the connection must be closed).
  void feed(ByteView data);
  // Next complete message, if any.
  std::optional<WsMessage> next();
  // Bytes fed but not yet consumed into a message.
  std::size_t buffered() const { return in_.size(); }

 private:
  bool parse_one();  // parses one frame from in_ if complete; returns false if more bytes needed

  Peer peer_;
  WsParserLimits limits_;
  StreamBuffer in_;
  std::optional<WsOpcode> fragmented_;  // opcode of the data message being reassembled
  Bytes fragments_;
  std::deque<WsMessage> ready_;
};

}  // namespace wa::socket
