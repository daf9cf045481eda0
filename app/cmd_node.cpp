// waconnector node decode|encode: binary nodes <-> JSON for captures, debugging and the Baileys
// interop tests (which push thousands of nodes through one process with --batch).
#include <cctype>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <string_view>

#include "app/commands.h"
#include "app/flags.h"
#include "core/binary/decoder.h"
#include "core/binary/encoder.h"
#include "core/binary/json.h"
#include "core/binary/node_json.h"

namespace wa::app {
namespace {

namespace bin = wa::binary;

constexpr const char* kNodeUsage =
    "usage: waconnector node decode [--dict 2|3] [--batch] HEX\n"
    "       waconnector node encode [--dict 2|3] [--batch] JSON\n"
    "\n"
    "Run 'waconnector node decode --help' or 'waconnector node encode --help' for details.\n";

constexpr std::size_t kMaxLine = 64u << 20;  // one batch input line (hex of a 16 MiB frame + slack)

// Whitespace inside hex input is allowed ("00 f8 03 ..." from a capture).
std::string strip_space(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s)
    if (!std::isspace(static_cast<unsigned char>(c))) out += c;
  return out;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::string decode_one(std::string_view input, bin::Dict dict) {
  const bin::Bytes bytes = bin::from_hex(strip_space(input));
  if (bytes.empty()) throw bin::DecodeError(0, "no input bytes");
  // A node starts with LIST_8/LIST_16; anything else in front is the frame flag byte.
  if (bytes[0] == bin::tag::kList8 || bytes[0] == bin::tag::kList16)
    return bin::node_to_json(bin::decode_node(bytes, dict));
  return bin::node_to_json(bin::decode_frame(bytes, dict));
}

std::string encode_one(std::string_view input, bin::Dict dict) {
  return bin::to_hex(bin::encode(bin::node_from_json_text(trim(input)), dict));
}

// Buffered stdin lines with a length cap: an over-long line is consumed and reported, never kept.
class LineReader {
 public:
  // Returns false at end of input. `too_long` is set when the line exceeded kMaxLine.
  bool next(std::string& line, bool& too_long) {
    line.clear();
    too_long = false;
    bool any = false;
    for (;;) {
      if (pos_ == len_) {
        len_ = std::fread(buf_, 1, sizeof buf_, stdin);
        pos_ = 0;
        if (len_ == 0) return any;
      }
      any = true;
      const char* start = buf_ + pos_;
      const void* nl = std::memchr(start, '\n', len_ - pos_);
      const std::size_t n = nl != nullptr ? static_cast<std::size_t>(static_cast<const char*>(nl) - start) : len_ - pos_;
      if (line.size() + n <= kMaxLine) {
        line.append(start, n);
      } else {
        too_long = true;
      }
      pos_ += n;
      if (nl != nullptr) {
        ++pos_;
        return true;
      }
    }
  }

 private:
  char buf_[1 << 16];
  std::size_t pos_ = 0;
  std::size_t len_ = 0;
};

void write_line(const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);  // one answer per line, so a caller may also work request by request
}

}  // namespace

int cmd_node(int argc, char** argv) {
  if (argc < 1) throw ConfigError("node needs a subcommand: decode or encode\n" + std::string(kNodeUsage));
  const std::string sub = argv[0];
  if (sub == "--help" || sub == "-h" || sub == "help") {
    std::cout << kNodeUsage;
    return 0;
  }
  if (sub != "decode" && sub != "encode")
    throw ConfigError("unknown node subcommand '" + sub + "' (decode or encode)");
  const bool decode = sub == "decode";
  const std::string summary =
      decode ? "Argument: HEX (one node), or --batch with one HEX per stdin line.\n\nDecodes a binary node given as hex and prints it as one line of JSON: {\"tag\", \"attrs\": "
               "[[key, value], ...], \"content\": [nodes] | {\"bytes_hex\"} | \"string\"}; JIDs print as text "
               "(user[_agent][:device]@server). The hex may start with the frame flag byte (0x00, or 0x02 = "
               "zlib-compressed); it is detected."
             : "Argument: JSON (one node), or --batch with one JSON node per stdin line.\n\nEncodes a JSON node (the format that 'node decode' prints; attribute values and string content "
               "containing '@' are JIDs, as Baileys writes them) and prints the bytes as hex, INCLUDING the "
               "leading frame flag byte 00 (uncompressed), like binary-vectors.json.";
  Flags flags("waconnector node " + sub, summary,
              {
                  {"dict", "", "token dictionary: 3 (whatsmeow, Baileys 7, the real service) or 2 (Baileys 6)",
                   "3"},
                  {"batch", "",
                   "read one input per line on stdin, write one output per line; a bad line gives "
                   "{\"error\": \"...\"} on its line and the exit code stays 0",
                   "", true},
              });
  if (!flags.parse(argc - 1, argv + 1)) return 0;
  const auto dict = bin::parse_dict(flags.str("dict"));
  if (!dict) throw ConfigError("--dict: '" + flags.str("dict") + "' is not a dictionary version (2 or 3)");
  const bool batch = flags.boolean("batch");
  const auto& pos = flags.positional();
  if (batch && !pos.empty()) throw ConfigError("node " + sub + " --batch reads stdin and takes no argument");
  if (!batch && pos.size() != 1)
    throw ConfigError("node " + sub + " needs exactly one " + (decode ? "HEX" : "JSON") + " argument");

  auto convert = [&](std::string_view in) { return decode ? decode_one(in, *dict) : encode_one(in, *dict); };

  if (!batch) {
    try {
      write_line(convert(pos[0]));
      return 0;
    } catch (const std::exception& e) {  // DecodeError, EncodeError, JsonError: the input is bad
      std::cerr << "waconnector: node " << sub << ": " << e.what() << "\n";
      return 1;
    }
  }

  LineReader reader;
  std::string line;
  bool too_long = false;
  while (reader.next(line, too_long)) {
    std::string out;
    try {
      if (too_long) throw std::length_error("input line longer than " + std::to_string(kMaxLine) + " bytes");
      out = convert(line);
    } catch (const std::exception& e) {
      out = "{\"error\":";
      bin::append_json_string(out, e.what());
      out += "}";
    }
    write_line(out);
  }
  return 0;
}

}  // namespace wa::app
