// libFuzzer target for <message> stanza parsing (core/client/message_info.h) behind the binary
// node decoder. Input byte 0 selects the dictionary (bit 0x01: v2, else v3); the rest is a frame
// plaintext (flag byte + node).
// Beyond "no crash": a parsed stanza has an id, a user JID as sender and chat, the group chat is
// `from`, and every <enc> has ciphertext.
#include <cstdlib>

#include "core/client/message_info.h"
#include "fuzz/node_input.h"

namespace bin = wa::binary;
namespace client = wa::client;

namespace {

void check(const bin::Node& n) {
  // Our own JIDs, so the own-device branch is reachable from the seeds.
  client::OwnJids own{bin::Jid::parse("15550009999:4@s.whatsapp.net"),
                      bin::Jid::parse("900000000000009:4@lid")};
  client::MessageInfo info;
  try {
    info = client::parse_message_info(n, own);
  } catch (const client::MalformedMessage&) {
    return;
  }
  if (info.id.empty() || info.sender.user.empty() || info.chat.user.empty()) std::abort();
  if (info.is_group && !info.is_from_me && !(info.chat == info.from)) std::abort();
  for (const auto& e : info.encs)
    if (e.ciphertext.empty()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return wa::fuzz::check_node_input(data, size, check);
}
