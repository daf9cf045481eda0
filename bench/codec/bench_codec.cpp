// bench_codec: encode+decode throughput of our binary-node codec (dictionary v3) on a fixed,
// deterministic corpus, next to Baileys 7 measured on the very same corpus by a Node script.
//   bench_codec [--count N] [--seed S] [--rounds R] [--no-baileys]
// Node and Baileys come from tests/interop (run `npm ci` there); the source tree is found via
// env WACONN_SOURCE_DIR (scripts/test.sh sets it), else the tree this binary was built from.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <ctime>
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

// Per-node times of one clock, median round.
struct Times {
  double encode_ns = 0;
  double decode_ns = 0;  // to an owning Node (the API most callers use)
  double view_ns = 0;    // to a DecodedFrame (views into the frame's bytes); ours only
};

struct Result {
  std::string who;
  std::size_t nodes = 0;
  std::size_t bytes = 0;
  Times wall;
  // CPU time of the measuring process: robust when other work shares the cores. Node's includes
  // its GC and compiler helper threads (CPU that decoding really costs there).
  Times cpu;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double cpu_now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e9 + double(ts.tv_nsec);
}

// Wall and CPU time of one timed phase, per node.
class Stopwatch {
 public:
  explicit Stopwatch(std::size_t nodes) : nodes_(double(nodes)) {}
  void start() {
    wall0_ = Clock::now();
    cpu0_ = cpu_now_ns();
  }
  void stop(std::vector<double>& wall, std::vector<double>& cpu) const {
    wall.push_back(std::chrono::duration<double, std::nano>(Clock::now() - wall0_).count() / nodes_);
    cpu.push_back((cpu_now_ns() - cpu0_) / nodes_);
  }

 private:
  double nodes_;
  Clock::time_point wall0_;
  double cpu0_ = 0;
};

Result bench_ours(const std::vector<Node>& corpus, int rounds, std::size_t& mismatches) {
  Result res{"waconnector (C++)", corpus.size(), 0, {}, {}};
  std::vector<Bytes> encoded(corpus.size());
  std::vector<double> enc_w, enc_c, dec_w, dec_c, view_w, view_c, sink_w, sink_c;
  std::size_t sink = 0;  // keeps the decode from being optimised away
  Stopwatch sw(corpus.size());
  for (int round = 0; round <= rounds; ++round) {  // round 0 warms caches and the allocator
    const bool keep = round > 0;
    sw.start();
    for (std::size_t i = 0; i < corpus.size(); ++i) encoded[i] = wa::binary::encode(corpus[i], Dict::v3);
    sw.stop(keep ? enc_w : sink_w, keep ? enc_c : sink_c);
    sw.start();
    for (const auto& b : encoded) sink += wa::binary::decode_frame(b, Dict::v3).attrs.size();
    sw.stop(keep ? dec_w : sink_w, keep ? dec_c : sink_c);
    sw.start();
    for (const auto& b : encoded) sink += wa::binary::decode_frame_view(b, Dict::v3).root().attrs().size();
    sw.stop(keep ? view_w : sink_w, keep ? view_c : sink_c);
  }
  for (const auto& b : encoded) res.bytes += b.size();
  // Not timed: the codec must give the corpus back, or the numbers mean nothing.
  mismatches = 0;
  for (std::size_t i = 0; i < corpus.size(); ++i)
    if (!(wa::binary::decode_frame(encoded[i], Dict::v3) == corpus[i]) ||
        !(wa::binary::decode_frame_view(encoded[i], Dict::v3).to_node() == corpus[i]))
      ++mismatches;
  res.wall = {median(enc_w), median(dec_w), median(view_w)};
  res.cpu = {median(enc_c), median(dec_c), median(view_c)};
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
  Result res{who && who->type == wa::binary::Json::Type::string ? who->text : "Baileys",
             static_cast<std::size_t>(num("nodes")),
             static_cast<std::size_t>(num("bytes")),
             {num("encode_ns_per_node"), num("decode_ns_per_node"), 0},
             {num("encode_cpu_ns_per_node"), num("decode_cpu_ns_per_node"), 0}};
  return res;
}

void print_line(const std::string& who, const Result& r, double encode_ns, double decode_ns) {
  const double ns = encode_ns + decode_ns;
  const double mb_per_s = r.nodes == 0 || ns == 0 ? 0 : (double(r.bytes) / double(r.nodes)) / ns * 1e3;
  fmt::print("{:<34} {:>9} nodes {:>11} bytes  encode {:>8.1f} ns/node  decode {:>8.1f} ns/node  "
             "encode+decode {:>8.1f} ns/node {:>8.1f} MB/s\n",
             who, r.nodes, r.bytes, encode_ns, decode_ns, ns, mb_per_s);
}

// Ours twice (decode to Node, decode to views), then Baileys when measured, then the ratios.
void report(const char* clock, Times Result::*times, const Result& ours, const Result* theirs) {
  const Times& o = ours.*times;
  fmt::print("{}:\n", clock);
  print_line(ours.who, ours, o.encode_ns, o.decode_ns);
  print_line(ours.who + " views", ours, o.encode_ns, o.view_ns);
  if (theirs == nullptr) return;
  const Times& t = (*theirs).*times;
  print_line(theirs->who, *theirs, t.encode_ns, t.decode_ns);
  const double t_ed = t.encode_ns + t.decode_ns;
  fmt::print("ratio (Baileys / ours, encode+decode time per node): {:.2f}x, with views {:.2f}x\n",
             t_ed / (o.encode_ns + o.decode_ns), t_ed / (o.encode_ns + o.view_ns));
  fmt::print("ratio (Baileys / ours, decode time per node): {:.2f}x, with views {:.2f}x\n", t.decode_ns / o.decode_ns,
             t.decode_ns / o.view_ns);
  fmt::print("ratio (Baileys / ours, encode time per node): {:.2f}x\n", t.encode_ns / o.encode_ns);
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
    std::optional<Result> theirs;
    if (baileys) {
      theirs = bench_baileys(corpus, rounds, src);
      if (!theirs) return 1;
    }
    fmt::print("corpus: {} nodes (seed {}), dictionary v3, median of {} rounds\n", count, seed, rounds);
    report("wall clock", &Result::wall, ours, theirs ? &*theirs : nullptr);
    report("CPU time (process; Node's includes its GC and compiler threads)", &Result::cpu, ours,
           theirs ? &*theirs : nullptr);
    if (theirs && theirs->bytes != ours.bytes)
      fmt::print("note: encodings differ in size: ours {} bytes, Baileys {} bytes\n", ours.bytes, theirs->bytes);
    if (mismatches) fmt::print("WARNING: {} nodes did not decode back to themselves\n", mismatches);
    return mismatches ? 1 : 0;
  } catch (const std::exception& e) {
    std::cerr << "bench_codec: " << e.what() << "\n";
    return 1;
  }
}
