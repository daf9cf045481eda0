// libFuzzer target for the decrypted Message protobuf decoder (core/client/message_content.h).
// Beyond "no crash": accepted text is valid UTF-8 within the limit, and the kept raw bytes decode
// again to the same type.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/client/message_content.h"

namespace client = wa::client;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  client::MessageLimits limits;
  limits.max_text_bytes = 4096;  // small limits keep runs fast; the checks are the same
  limits.max_bytes = 1u << 16;
  client::MessageContent c;
  try {
    c = client::decode_message({data, size}, limits);
  } catch (const client::MessageDecodeError&) {
    return 0;
  }
  if (c.text && (!client::valid_utf8(*c.text) || c.text->size() > limits.max_text_bytes)) std::abort();
  if (c.type.empty()) std::abort();
  client::MessageContent again;
  try {
    again = client::decode_message(c.raw, limits);
  } catch (const client::MessageDecodeError&) {
    std::abort();  // what we kept must decode
  }
  if (again.type != c.type || again.text != c.text) std::abort();
  return 0;
}
