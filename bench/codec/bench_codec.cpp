// bench_codec: encode+decode throughput of our binary-node codec (dictionary v3) on a fixed,
// deterministic corpus, next to Baileys 7 measured on the very same corpus by a Node script.
//   bench_codec [--count N] [--seed S] [--rounds R] [--no-baileys]
// Node and Baileys come from tests/interop (run `npm ci` there); the source tree is found via
// env WACONN_SOURCE_DIR (scripts/test.sh sets it), else the tree this binary was built from.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bench/codec/corpus.h"
#include "core/binary/decoder.h"
#include "core/binary/encoder.h"
#include "core/binary/json.h"
#include "core/binary/node_json.h"

namespace {

namespace fs = std::filesystem;
using wa::binary::Bytes;
using wa::binary::Dict;
using wa::binary::Node;
using Clock = std::chrono::steady_clock;

struct Result {
  std::string who;
  std::size_t nodes = 0;
  std::size_t bytes = 0;
  double encode_ns = 0;  // per node, median round
  double decode_ns = 0;
  double ns() const { return encode_ns + decode_ns; }
  // Encoded bytes through encode and decode per second of both.
  double mb_per_s() const { return nodes == 0 || ns() == 0 ? 0 : (double(bytes) / double(nodes)) / ns() * 1e3; }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double ns_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
}

Result bench_ours(const std::vector<Node>& corpus, int rounds, std::size_t& mismatches) {
  Result res{"waconnector (C++)", corpus.size(), 0, 0, 0};
  std::vector<Bytes> encoded(corpus.size());
  std::vector<double> enc_ns, dec_ns;
  std::size_t sink = 0;  // keeps the decode from being optimised away
  for (int round = 0; round <= rounds; ++round) {  // round 0 warms caches and the allocator
    auto t0 = Clock::now();
    for (std::size_t i = 0; i < corpus.size(); ++i) encoded[i] = wa::binary::encode(corpus[i], Dict::v3);
    const double e = ns_since(t0);
    t0 = Clock::now();
    for (const auto& b : encoded) sink += wa::binary::decode_frame(b, Dict::v3).attrs.size();
    const double d = ns_since(t0);
    if (round > 0) {
      enc_ns.push_back(e / double(corpus.size()));
      dec_ns.push_back(d / double(corpus.size()));
    }
  }
  for (const auto& b : encoded) res.bytes += b.size();
  // Not timed: the codec must give the corpus back, or the numbers mean nothing.
  mismatches = 0;
  for (std::size_t i = 0; i < corpus.size(); ++i)
    if (!(wa::binary::decode_frame(encoded[i], Dict::v3) == corpus[i])) ++mismatches;
  res.encode_ns = median(enc_ns);
  res.decode_ns = median(dec_ns);
  if (sink == 0) std::cerr << "(empty corpus)\n";
  return res;
}

// A file removed when it goes out of scope.
class TempFile {
 public:
  TempFile() {
    std::string tmpl = (fs::temp_directory_path() / "bench_codec_corpus.XXXXXX").string();
    const int fd = mkstemp(tmpl.data());
    if (fd < 0) throw std::runtime_error("mkstemp failed for " + tmpl);
    close(fd);
    path_ = tmpl;
  }
  ~TempFile() {
    std::error_code ec;
    fs::remove(path_, ec);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs the Node side; returns nullopt (with the reason on stderr) when it cannot.
std::optional<Result> bench_baileys(const std::vector<Node>& corpus, int rounds, const fs::path& src) {
  const fs::path script = src / "bench" / "codec" / "baileys_codec.mjs";
  const fs::path interop = src / "tests" / "interop";
  if (!fs::exists(interop / "node_modules" / "baileys")) {
    std::cerr << "bench_codec: no Baileys in " << interop << "/node_modules (run `npm ci` there)\n";
    return std::nullopt;
  }
  TempFile file;
  {
    std::ofstream out(file.path());
    for (const auto& n : corpus) out << wa::binary::node_to_json(n) << '\n';
    if (!out) throw std::runtime_error("cannot write the corpus to " + file.path().string());
  }
  const std::string cmd = "node " + shell_quote(script.string()) + " --corpus " + shell_quote(file.path().string()) +
                          " --interop-dir " + shell_quote(interop.string()) + " --rounds " + std::to_string(rounds);
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  if (!pipe) throw std::runtime_error("cannot start: " + cmd);
  std::string output;
  std::array<char, 4096> buf{};
  while (std::size_t n = std::fread(buf.data(), 1, buf.size(), pipe.get())) output.append(buf.data(), n);
  const int status = pclose(pipe.release());
  if (status != 0) {
    std::cerr << "bench_codec: the Node side failed (status " << status << "): " << output << "\n";
    return std::nullopt;
  }
  // The last line is the JSON result.
  while (!output.empty() && output.back() == '\n') output.pop_back();
  const auto json = wa::binary::parse_json(output.substr(output.rfind('\n') == std::string::npos ? 0 : output.rfind('\n') + 1));
  auto num = [&](const char* key) {
    const auto* v = json.find(key);
    if (v == nullptr || v->type != wa::binary::Json::Type::number) throw std::runtime_error(std::string("Node result lacks ") + key);
    return std::stod(v->text);
  };
  const auto* who = json.find("who");
  Result res{who && who->type == wa::binary::Json::Type::string ? who->text : "Baileys", static_cast<std::size_t>(num("nodes")),
             static_cast<std::size_t>(num("bytes")), num("encode_ns_per_node"), num("decode_ns_per_node")};
  return res;
}

void print(const Result& r) {
  fmt::print("{:<34} {:>9} nodes {:>11} bytes  encode {:>8.1f} ns/node  decode {:>8.1f} ns/node  "
             "encode+decode {:>8.1f} ns/node {:>8.1f} MB/s\n",
             r.who, r.nodes, r.bytes, r.encode_ns, r.decode_ns, r.ns(), r.mb_per_s());
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t count = 100'000;
  std::uint64_t seed = 20261124;
  int rounds = 5;
  bool baileys = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "bench_codec: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--count") count = std::stoul(value());
    else if (a == "--seed") seed = std::stoull(value());
    else if (a == "--rounds") rounds = std::max(1, std::stoi(value()));
    else if (a == "--no-baileys") baileys = false;
    else {
      std::cerr << "usage: bench_codec [--count N] [--seed S] [--rounds R] [--no-baileys]\n";
      return 2;
    }
  }
  try {
    const char* env_src = std::getenv("WACONN_SOURCE_DIR");
    const fs::path src = env_src && *env_src ? fs::path(env_src) : fs::path(WACONN_DEFAULT_SOURCE_DIR);

    const auto corpus = wa::bench::make_corpus(count, seed);
    std::size_t mismatches = 0;
    const Result ours = bench_ours(corpus, rounds, mismatches);
    fmt::print("corpus: {} nodes (seed {}), dictionary v3, median of {} rounds\n", count, seed, rounds);
    print(ours);
    if (mismatches) fmt::print("WARNING: {} nodes did not decode back to themselves\n", mismatches);
    if (!baileys) return mismatches ? 1 : 0;
    const auto theirs = bench_baileys(corpus, rounds, src);
    if (!theirs) return 1;
    print(*theirs);
    if (theirs->bytes != ours.bytes)
      fmt::print("note: encodings differ in size: ours {} bytes, Baileys {} bytes\n", ours.bytes, theirs->bytes);
    fmt::print("ratio (Baileys / ours, encode+decode time per node): {:.2f}x\n", theirs->ns() / ours.ns());
    return mismatches ? 1 : 0;
  } catch (const std::exception& e) {
    std::cerr << "bench_codec: " << e.what() << "\n";
    return 1;
  }
}
