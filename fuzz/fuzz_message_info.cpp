// libFuzzer target for <message> stanza parsing (core/client/message_info.h) behind the binary
// node decoder. Input byte 0 selects the dictionary (bit 0x01: v2, else v3); the rest is a frame
// plaintext (flag byte + node).
// Beyond "no crash": a parsed stanza has an id, a user JID as sender and chat, the group chat is
// `from`, and every <enc> has ciphertext.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/binary/decoder.h"
#include "fuzz/node_input.h"
#include "core/client/message_info.h"

namespace bin = wa::binary;
namespace client = wa::client;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto decoded = wa::fuzz::decode_node_input(data, size);
  if (!decoded) return 0;
  const bin::Node& n = *decoded;
  // Our own JIDs, so the own-device branch is reachable from the seeds.
  client::OwnJids own{bin::Jid::parse("15550009999:4@s.whatsapp.net"),
                      bin::Jid::parse("900000000000009:4@lid")};
  client::MessageInfo info;
  try {
    info = client::parse_message_info(n, own);
  } catch (const client::MalformedMessage&) {
    return 0;
  }
  if (info.id.empty() || info.sender.user.empty() || info.chat.user.empty()) std::abort();
  if (info.is_group && !info.is_from_me && !(info.chat == info.from)) std::abort();
  for (const auto& e : info.encs)
    if (e.ciphertext.empty()) std::abort();
  return 0;
}
