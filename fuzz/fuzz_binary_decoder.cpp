// libFuzzer target for the binary node decoder (and the node JSON reader the CLI uses).
// Input byte 0 selects the mode: bit 0x80 = the rest is node JSON text, else the rest is a
// frame plaintext (flag byte + node) decoded with dictionary v2 (bit 0x01) or v3.
// Properties checked beyond "no crash": a decoded node re-encodes, and encoding is stable after
// one round (encode(decode(encode(n))) == encode(n)); its printed JSON parses back; the view
// decoder (DecodedFrame) accepts exactly what decode_frame accepts and reads the same node.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/binary/decoder.h"
#include "core/binary/encoder.h"
#include "core/binary/json.h"
#include "core/binary/node_json.h"
#include "fuzz/node_input.h"

namespace bin = wa::binary;

namespace {

void check_reencode(const bin::Node& n, bin::Dict dict) {
  const bin::Bytes b = bin::encode(n, dict);  // a decoded node is always encodable
  const bin::Node m = bin::decode_frame(b, dict);
  if (bin::encode(m, dict) != b) std::abort();
}

// Both forms of the view decoder, with the limits decode_plaintext uses.
void check_views(std::span<const std::uint8_t> plaintext, bin::Dict dict, const bin::Node* expected) {
  bin::DecodeLimits limits;
  limits.max_inflated = 1u << 20;
  for (int form = 0; form < 2; ++form) {
    try {
      const bin::DecodedFrame f = form == 0 ? bin::decode_frame_view(plaintext, dict, limits)
                                            : bin::decode_frame_view(bin::Bytes(plaintext.begin(), plaintext.end()), dict, limits);
      if (expected == nullptr || !(f.to_node() == *expected)) std::abort();
    } catch (const bin::DecodeError&) {
      if (expected != nullptr) std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const bin::Dict dict = wa::fuzz::dict_from_selector(data[0]);
  const std::span<const std::uint8_t> rest(data + 1, size - 1);
  if ((data[0] & 0x80) != 0) {
    const std::string_view text(reinterpret_cast<const char*>(rest.data()), rest.size());
    bin::Node n;
    try {
      n = bin::node_from_json_text(text);
    } catch (const bin::JsonError&) {
      return 0;
    }
    try {
      const bin::Bytes b = bin::encode(n, dict);
      check_reencode(bin::decode_frame(b, dict), dict);
    } catch (const bin::EncodeError&) {
    }
    return 0;
  }
  const auto n = wa::fuzz::decode_plaintext(rest, dict);
  check_views(rest, dict, n ? &*n : nullptr);
  if (!n) return 0;
  check_reencode(*n, dict);
  (void)bin::parse_json(bin::node_to_json(*n));  // must be valid JSON within the reader's limits
  return 0;
}
