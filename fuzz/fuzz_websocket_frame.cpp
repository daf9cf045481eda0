// libFuzzer: the RFC 6455 frame parser (both directions, input fed in fuzzer-chosen pieces) and
// the upgrade-head parsers. Any input must give messages or a WebSocketError/UpgradeError.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/socket/websocket_frame.h"
#include "core/socket/websocket_upgrade.h"

using namespace wa::socket;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t mode = data[0];
  ByteView in(data + 1, size - 1);

  if (mode & 0x80) {
    std::string_view text(reinterpret_cast<const char*>(in.data()), in.size());
    try {
      check_ws_upgrade_response(text, "dGhlIHNhbXBsZSBub25jZQ==");
    } catch (const UpgradeError&) {
    }
    try {
      parse_ws_upgrade_request(text);
    } catch (const UpgradeError&) {
    }
    return 0;
  }

  WsParserLimits limits;
  limits.max_message_size = 1 << 16;
  limits.max_buffered = (1 << 16) + 64;
  WsFrameParser parser(mode & 1 ? WsFrameParser::Peer::client : WsFrameParser::Peer::server, limits);
  const std::size_t chunk = 1 + (mode >> 1 & 0x3f);
  try {
    for (std::size_t off = 0; off < in.size(); off += chunk) {
      parser.feed(in.subspan(off, std::min(chunk, in.size() - off)));
      while (auto m = parser.next()) {
        if (m->payload.size() > limits.max_message_size) __builtin_trap();
        if (m->opcode == WsOpcode::continuation) __builtin_trap();
      }
    }
  } catch (const WebSocketError&) {
  }
  return 0;
}
