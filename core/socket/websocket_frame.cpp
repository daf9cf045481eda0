#include "core/socket/websocket_frame.h"

#include <algorithm>

#include "core/crypto/random.h"

namespace wa::socket {

const char* to_string(WsOpcode op) {
  switch (op) {
    case WsOpcode::continuation: return "continuation";
    case WsOpcode::text: return "text";
    case WsOpcode::binary: return "binary";
    case WsOpcode::close: return "close";
    case WsOpcode::ping: return "ping";
    case WsOpcode::pong: return "pong";
  }
  return "unknown";
}

namespace {

bool is_control(std::uint8_t op) { return (op & 0x8) != 0; }
bool known_opcode(std::uint8_t op) { return op <= 0x2 || (op >= 0x8 && op <= 0xA); }

}  // namespace

Bytes encode_ws_frame(WsOpcode opcode, ByteView payload, bool fin, std::optional<std::array<std::uint8_t, 4>> mask) {
  auto op = static_cast<std::uint8_t>(opcode);
  if (is_control(op) && (payload.size() > 125 || !fin)) {
    throw std::invalid_argument("websocket: control frame must be unfragmented with payload <= 125 bytes");
  }
  Bytes out;
  out.reserve(payload.size() + 14);
  out.push_back(static_cast<std::uint8_t>((fin ? 0x80 : 0x00) | op));
  const std::uint8_t mask_bit = mask ? 0x80 : 0x00;
  const std::uint64_t n = payload.size();
  if (n < 126) {
    out.push_back(static_cast<std::uint8_t>(mask_bit | n));
  } else if (n <= 0xFFFF) {
    out.push_back(mask_bit | 126);
    out.push_back(static_cast<std::uint8_t>(n >> 8));
    out.push_back(static_cast<std::uint8_t>(n));
  } else {
    out.push_back(mask_bit | 127);
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(n >> shift));
  }
  if (mask) {
    out.insert(out.end(), mask->begin(), mask->end());
    std::size_t start = out.size();
    out.insert(out.end(), payload.begin(), payload.end());
    for (std::size_t i = 0; i < n; ++i) out[start + i] ^= (*mask)[i & 3];
  } else {
    out.insert(out.end(), payload.begin(), payload.end());
  }
  return out;
}

Bytes encode_ws_frame_masked(WsOpcode opcode, ByteView payload, bool fin) {
  std::array<std::uint8_t, 4> key;
  crypto::random_fill(key);
  return encode_ws_frame(opcode, payload, fin, key);
}

Bytes ws_close_payload(std::uint16_t code, std::string_view reason) {
  Bytes out{static_cast<std::uint8_t>(code >> 8), static_cast<std::uint8_t>(code)};
  // Cut the reason at 123 bytes without splitting a UTF-8 sequence.
  std::size_t n = std::min<std::size_t>(reason.size(), 123);
  while (n > 0 && n < reason.size() && (static_cast<unsigned char>(reason[n]) & 0xC0) == 0x80) --n;
  out.insert(out.end(), reason.begin(), reason.begin() + static_cast<std::ptrdiff_t>(n));
  return out;
}

WsFrameParser::WsFrameParser(Peer peer, WsParserLimits limits)
    : peer_(peer), limits_(limits), in_(limits.max_buffered) {}

void WsFrameParser::feed(ByteView data) {
  in_.feed(data, [this] { return parse_one(); }, [this](StreamBuffer::Refusal r) {
    return r == StreamBuffer::Refusal::used_after_error
               ? WebSocketError(ws_close::protocol_error, "parser used after an error")
               : WebSocketError(ws_close::too_big,
                                "more than " + std::to_string(limits_.max_buffered) + " unparsed bytes");
  });
}

std::optional<WsMessage> WsFrameParser::next() { return take_front(ready_); }

bool WsFrameParser::parse_one() {
  const ByteView in = in_.unparsed();
  const std::size_t avail = in.size();
  if (avail < 2) return false;
  const std::uint8_t* p = in.data();
  const bool fin = (p[0] & 0x80) != 0;
  const std::uint8_t rsv = p[0] & 0x70;
  const std::uint8_t op = p[0] & 0x0F;
  const bool masked = (p[1] & 0x80) != 0;
  std::uint64_t len = p[1] & 0x7F;
  std::size_t header = 2;

  // Nothing was negotiated (no permessage-deflate), so every RSV bit must be 0.
  if (rsv != 0) throw WebSocketError(ws_close::protocol_error, "reserved bits set in frame header");
  if (!known_opcode(op)) throw WebSocketError(ws_close::protocol_error, "unknown opcode " + std::to_string(op));
  if (peer_ == Peer::client && !masked) throw WebSocketError(ws_close::protocol_error, "unmasked frame from client");
  if (peer_ == Peer::server && masked) throw WebSocketError(ws_close::protocol_error, "masked frame from server");
  if (is_control(op)) {
    if (!fin) throw WebSocketError(ws_close::protocol_error, "fragmented control frame");
    if (len > 125) throw WebSocketError(ws_close::protocol_error, "control frame payload over 125 bytes");
  }
  if (len == 126) {
    if (avail < 4) return false;
    len = static_cast<std::uint64_t>(p[2]) << 8 | p[3];
    if (len < 126) throw WebSocketError(ws_close::protocol_error, "non-minimal 16-bit length");
    header = 4;
  } else if (len == 127) {
    if (avail < 10) return false;
    if (p[2] & 0x80) throw WebSocketError(ws_close::protocol_error, "64-bit length with the top bit set");
    len = 0;
    for (int i = 2; i < 10; ++i) len = len << 8 | p[i];
    if (len <= 0xFFFF) throw WebSocketError(ws_close::protocol_error, "non-minimal 64-bit length");
    header = 10;
  }
  // Check limits before waiting for the payload, so a huge announced length fails at once.
  if (!is_control(op)) {
    const std::uint64_t already = op == 0 ? fragments_.size() : 0;
    if (len > limits_.max_message_size || already + len > limits_.max_message_size) {
      throw WebSocketError(ws_close::too_big, "message of at least " + std::to_string(already + len) +
                                                  " bytes exceeds the limit of " +
                                                  std::to_string(limits_.max_message_size));
    }
  }
  std::array<std::uint8_t, 4> mask{};
  if (masked) {
    if (avail < header + 4) return false;
    std::copy(p + header, p + header + 4, mask.begin());
    header += 4;
  }
  if (avail - header < len) return false;

  Bytes payload(p + header, p + header + len);
  if (masked) {
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] ^= mask[i & 3];
  }
  in_.consume(header + static_cast<std::size_t>(len));

  const auto opcode = static_cast<WsOpcode>(op);
  if (is_control(op)) {
    if (opcode == WsOpcode::close && payload.size() == 1) {
      throw WebSocketError(ws_close::protocol_error, "close frame with a 1-byte payload");
    }
    ready_.push_back(WsMessage{opcode, std::move(payload)});
    return true;
  }
  if (opcode == WsOpcode::continuation) {
    if (!fragmented_) throw WebSocketError(ws_close::protocol_error, "continuation frame without a started message");
    fragments_.insert(fragments_.end(), payload.begin(), payload.end());
    if (fin) {
      ready_.push_back(WsMessage{*fragmented_, std::move(fragments_)});
      fragments_.clear();
      fragmented_.reset();
    }
    return true;
  }
  if (fragmented_) throw WebSocketError(ws_close::protocol_error, "new data message before the previous one ended");
  if (fin) {
    ready_.push_back(WsMessage{opcode, std::move(payload)});
  } else {
    fragmented_ = opcode;
    fragments_ = std::move(payload);
  }
  return true;
}

}  // namespace wa::socket
